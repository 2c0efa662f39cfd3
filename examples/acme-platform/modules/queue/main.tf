variable "visibility_timeout" {
  type    = number
}

variable "max_receive_count" {
  type    = number
  default = null
}

locals {
  settings = { visibility_timeout = var.visibility_timeout, max_receive_count = var.max_receive_count }
}

resource "terraform_data" "queue" {
  input = local.settings
}

output "queue_url" {
  value = "https://sqs.eu-west-1.amazonaws.com/000000000000/work"
}

output "queue_arn" {
  value = "arn:aws:sqs:eu-west-1:000000000000:work"
}
