variable "log_retention_days" {
  type    = number
}

locals {
  settings = { log_retention_days = var.log_retention_days }
}

resource "terraform_data" "security_baseline" {
  input = local.settings
}

output "kms_key_arn" {
  value = "arn:aws:kms:eu-west-1:000000000000:key/${substr(sha256("kms"), 0, 16)}"
}

output "log_bucket" {
  value = "logs-${substr(sha256("logs"), 0, 8)}"
}
