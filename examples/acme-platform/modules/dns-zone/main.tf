variable "domain" {
  type    = string
}

locals {
  settings = { domain = var.domain }
  id       = substr(sha256(jsonencode(local.settings)), 0, 12)
}

resource "terraform_data" "dns_zone" {
  input = local.settings
}

output "zone_id" {
  value = "zone-id-${local.id}"
}

output "zone_name" {
  value = "zone-name-${local.id}"
}
