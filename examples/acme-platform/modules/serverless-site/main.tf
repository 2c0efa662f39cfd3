variable "api_url" {
  type    = string
}

variable "zone_id" {
  type    = string
}

variable "hostname" {
  type    = string
}

variable "price_class" {
  type    = string
  default = null
}

locals {
  settings = { api_url = var.api_url, zone_id = var.zone_id, hostname = var.hostname, price_class = var.price_class }
}

resource "terraform_data" "serverless_site" {
  input = local.settings
}

output "site_url" {
  value = "https://${var.hostname}"
}

output "distribution_id" {
  value = "E${upper(substr(sha256(var.hostname), 0, 12))}"
}
