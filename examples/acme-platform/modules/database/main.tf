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
}

resource "terraform_data" "database" {
  input = local.settings
}

output "endpoint" {
  value = "db-${substr(sha256(var.vpc_id), 0, 10)}.cluster.internal:5432"
}

output "master_password" {
  value = sensitive("pw-${substr(sha256(var.kms_key_arn), 0, 16)}")
  sensitive = true
}
