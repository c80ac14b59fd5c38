variable "name_prefix" {
  description = "Namespace of the repositories: each is named <name_prefix>/<repository>."
  type        = string
}

variable "repositories" {
  description = "Repositories to create: one per code location plus one for the platform image."
  type        = list(string)
  default     = ["candidates", "jobs", "matching", "platform"]
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images are expired."
  type        = number
  default     = 14
}

variable "max_image_count" {
  description = "Number of images kept per repository; older ones are expired."
  type        = number
  default     = 100
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
