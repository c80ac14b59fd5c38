environment = "prod"
region      = "eu-west-1"
vpc_cidr    = "10.20.0.0/16"

# Resilient: three AZs, a NAT gateway per AZ, Multi-AZ database, on-demand nodes.
azs                 = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
single_nat_gateway  = false
node_capacity_type  = "ON_DEMAND"
node_instance_types = ["m6i.xlarge"]
node_min_size       = 3
node_max_size       = 9
node_desired_size   = 3

db_instance_class          = "db.m7g.large"
db_multi_az                = true
db_backup_retention_period = 30

compute_logs_retention_days = 30
