variable "database_endpoint" {
  type    = string
}

variable "cache_endpoint" {
  type    = string
  default = null
}

variable "queue_url" {
  type    = string
}

variable "datadog_api_key" {
  type    = string
  default = null
}

variable "desired_count" {
  type    = number
}

locals {
  settings = { database_endpoint = var.database_endpoint, cache_endpoint = var.cache_endpoint, queue_url = var.queue_url, datadog_api_key = var.datadog_api_key, desired_count = var.desired_count }
}

resource "terraform_data" "api_service" {
  input = local.settings
}

output "api_url" {
  value = "https://api-${substr(sha256(var.database_endpoint), 0, 8)}.example.com"
}
