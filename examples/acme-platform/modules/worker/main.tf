variable "queue_arn" {
  type    = string
}

variable "database_endpoint" {
  type    = string
}

variable "concurrency" {
  type    = number
  default = null
}

locals {
  settings = { queue_arn = var.queue_arn, database_endpoint = var.database_endpoint, concurrency = var.concurrency }
  id       = substr(sha256(jsonencode(local.settings)), 0, 12)
}

resource "terraform_data" "worker" {
  input = local.settings
}

output "service_name" {
  value = "service-name-${local.id}"
}
