variable "name" {
  description = "The bucket's name: 3-63 lowercase letters, digits, '.' and '-', globally unique."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit."
  }
}

variable "versioning" {
  description = "Keep every version of every object (needed to recover an overwritten Terraform state)."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "Delete an object's old versions this many days after they were replaced; null keeps them forever."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days == null || try(var.noncurrent_version_expiration_days >= 1, false)
    error_message = "noncurrent_version_expiration_days must be at least 1, or null."
  }
}

variable "kms_key_arn" {
  description = "Encrypt objects with this KMS key (SSE-KMS); null encrypts with S3-managed keys (SSE-S3)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket even when it still holds objects."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
