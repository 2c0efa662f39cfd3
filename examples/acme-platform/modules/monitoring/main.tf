variable "alarm_email" {
  type    = string
}

locals {
  settings = { alarm_email = var.alarm_email }
}

resource "terraform_data" "monitoring" {
  input = local.settings
}

output "dashboard_url" {
  value = "https://dashboards.example.com/${substr(sha256(var.alarm_email), 0, 8)}"
}
