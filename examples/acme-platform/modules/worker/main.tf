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
}

resource "terraform_data" "worker" {
  input = local.settings
}

output "service_name" {
  value = "worker-${substr(sha256(var.queue_arn), 0, 8)}"
}
