# This environment is stack/ with the values of terraform.tfvars. Every .tf file here is the same in
# envs/dev and envs/prod (tests/terraform/test_structure.py); only terraform.tfvars and
# backend.hcl.example differ.
module "stack" {
  source = "../../stack"

  environment                      = var.environment
  region                           = var.region
  tags                             = var.tags
  vpc_cidr                         = var.vpc_cidr
  azs                              = var.azs
  single_nat_gateway               = var.single_nat_gateway
  kubernetes_version               = var.kubernetes_version
  eks_endpoint_public_access       = var.eks_endpoint_public_access
  eks_endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  eks_access_entries               = var.eks_access_entries
  node_instance_types              = var.node_instance_types
  node_capacity_type               = var.node_capacity_type
  node_min_size                    = var.node_min_size
  node_max_size                    = var.node_max_size
  node_desired_size                = var.node_desired_size
  postgres_engine_version          = var.postgres_engine_version
  db_instance_class                = var.db_instance_class
  db_multi_az                      = var.db_multi_az
  db_backup_retention_period       = var.db_backup_retention_period
  compute_logs_retention_days      = var.compute_logs_retention_days
}
