variable "visibility_timeout" {
  type    = number
}

variable "max_receive_count" {
  type    = number
  default = null
}

locals {
  settings = { visibility_timeout = var.visibility_timeout, max_receive_count = var.max_receive_count }
  id       = substr(sha256(jsonencode(local.settings)), 0, 12)
}

resource "terraform_data" "queue" {
  input = local.settings
}

output "queue_url" {
  value = "https://queue.example.com/${local.id}"
}

output "queue_arn" {
  value = "queue-arn-${local.id}"
}
