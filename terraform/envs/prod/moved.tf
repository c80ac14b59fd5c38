# State written before the stack existed (every module was called from this root): move it, so
# the refactoring plans no change. Keep these blocks until every state has been applied once.

moved {
  from = module.network
  to   = module.stack.module.network
}

moved {
  from = module.eks
  to   = module.stack.module.eks
}

moved {
  from = module.database
  to   = module.stack.module.database
}

moved {
  from = module.storage
  to   = module.stack.module.storage
}

moved {
  from = module.registry
  to   = module.stack.module.registry
}

moved {
  from = module.secrets
  to   = module.stack.module.secrets
}

moved {
  from = module.team_iam
  to   = module.stack.module.team_iam
}

moved {
  from = module.platform_iam
  to   = module.stack.module.platform_iam
}

moved {
  from = module.platform_release
  to   = module.stack.module.platform_release
}
