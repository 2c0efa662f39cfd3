variable "vpc_id" {
  type    = string
}

variable "subnet_ids" {
  type    = list(string)
}

variable "node_type" {
  type = string
  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type))
    error_message = "node_type must be an ElastiCache node type, like cache.t4g.small."
  }
}

locals {
  settings = { vpc_id = var.vpc_id, subnet_ids = var.subnet_ids, node_type = var.node_type }
}

resource "terraform_data" "cache" {
  input = local.settings
}

output "endpoint" {
  value = "cache-${substr(sha256(var.vpc_id), 0, 10)}.internal:6379"
}
