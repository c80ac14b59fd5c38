environment = "dev"
region      = "eu-west-1"
vpc_cidr    = "10.10.0.0/16"

# Cheaper: two AZs, one NAT gateway, single-AZ database, spot nodes.
azs                = ["eu-west-1a", "eu-west-1b"]
single_nat_gateway = true
node_capacity_type = "SPOT"
node_min_size      = 1
node_max_size      = 4
node_desired_size  = 2

db_instance_class          = "db.t4g.medium"
db_multi_az                = false
db_backup_retention_period = 7

compute_logs_retention_days = 14
