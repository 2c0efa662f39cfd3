variable "domain" {
  type    = string
}

locals {
  settings = { domain = var.domain }
}

resource "terraform_data" "dns_zone" {
  input = local.settings
}

output "zone_id" {
  value = "Z${upper(substr(sha256(var.domain), 0, 12))}"
}

output "zone_name" {
  value = var.domain
}
