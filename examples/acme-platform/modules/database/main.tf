variable "vpc_id" {
  type    = string
}

variable "subnet_ids" {
  type    = list(string)
}

variable "kms_key_arn" {
  type    = string
}

variable "instance_class" {
  type    = string
}

locals {
  settings = { vpc_id = var.vpc_id, subnet_ids = var.subnet_ids, kms_key_arn = var.kms_key_arn, instance_class = var.instance_class }
  id       = substr(sha256(jsonencode(local.settings)), 0, 12)
}

resource "terraform_data" "database" {
  input = local.settings
}

output "endpoint" {
  value = "endpoint-${local.id}"
}

output "master_password" {
  value = sensitive("pw-${local.id}")
  sensitive = true
}
