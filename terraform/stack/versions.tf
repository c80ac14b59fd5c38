terraform {
  required_version = ">= 1.6.0"

  # A module: lower bounds only. The roots (envs/*/versions.tf) pin exact versions and configure
  # the providers, which this module and its children inherit.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.95"
    }
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
