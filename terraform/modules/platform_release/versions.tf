terraform {
  required_version = ">= 1.10.0" # removed { lifecycle { destroy = false } } (main.tf): OpenTofu 1.10, Terraform 1.7

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.27"
    }
    http = {
      source  = "hashicorp/http"
      version = ">= 3.4"
    }
  }
}
