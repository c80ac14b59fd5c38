"""The parse-level checks report problems in small synthetic modules (so they can fail)."""

from __future__ import annotations

from pathlib import Path

from tfcheck import check_module_pins, check_outputs, check_provider_pins, check_variables

BAD_MODULE = """
variable "described" {
  description = "ok"
  type        = string
}

variable "no_description" {
  type = string
}

variable "no_type" {
  description = "has no type"
}

variable "unused" {
  description = "declared, never referenced"
  type        = string
}

# var.unused in a comment does not count as a use.

module "unpinned" {
  source = "terraform-aws-modules/vpc/aws"
  name   = "${var.described}-${var.no_description}-${var.no_type}"
}

module "ranged" {
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.0"
  name    = var.undeclared
}

module "git" {
  source = "git::https://example.invalid/repo.git"
}

module "local" {
  source  = "../other"
  version = "1.0.0"
}

output "bare" {
  value = 1
}

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    helm = {
      source = "hashicorp/helm"
    }
  }
}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "main.tf").write_text(text)
    return tmp_path


def test_variable_check_reports_each_problem(tmp_path: Path):
    problems = "\n".join(check_variables(_write(tmp_path, BAD_MODULE)))
    assert "'no_description' has no description" in problems
    assert "'no_type' has no type" in problems
    assert "'unused' is declared but never used" in problems
    assert "var.undeclared is used but not declared" in problems
    assert "described" not in problems.replace("no_description", "")


def test_module_pin_check_reports_each_problem(tmp_path: Path):
    problems = "\n".join(check_module_pins(_write(tmp_path, BAD_MODULE)))
    assert "'unpinned'" in problems and "has no version" in problems
    assert "'ranged' version '~> 20.0' is not an exact pin" in problems
    assert "'git'" in problems and "not pinned to a ref" in problems
    assert "local module 'local' must not set version" in problems


def test_provider_check_reports_missing_and_loose_versions(tmp_path: Path):
    directory = _write(tmp_path, BAD_MODULE)
    as_module = "\n".join(check_provider_pins(directory, exact=False))
    assert "'helm' has no version constraint" in as_module
    assert "'aws'" not in as_module
    as_root = "\n".join(check_provider_pins(directory, exact=True))
    assert "'aws' version '>= 5.0' is not an exact pin" in as_root


def test_provider_check_reports_missing_block(tmp_path: Path):
    assert check_provider_pins(_write(tmp_path, "locals {\n  a = 1\n}\n"), exact=True) != []


def test_output_check_reports_missing_description(tmp_path: Path):
    assert check_outputs(_write(tmp_path, BAD_MODULE)) == [f"{tmp_path}: output 'bare' has no description"]


def test_clean_module_passes(tmp_path: Path):
    directory = _write(
        tmp_path,
        """
variable "name" {
  description = "Name."
  type        = string
}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.21.0"
  name    = var.name
}

output "id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}
""",
    )
    assert check_variables(directory) == []
    assert check_module_pins(directory) == []
    assert check_outputs(directory) == []
    assert check_provider_pins(directory, exact=True) == []
