variable "image" {
  description = "A container image with `tfctl` and `terraform` on PATH (for example your build of this repository's wheel on a terraform base image)."
  type        = string
}

variable "database_url_secret" {
  description = "The Secret key holding the PostgreSQL job store URL (`postgresql+psycopg://USER:PASS@HOST/DB`), passed as TFCTL_DATABASE_URL."
  type = object({
    name = string
    key  = string
  })
}

variable "artifact_key_secret" {
  description = "The Secret key holding TFCTL_ARTIFACT_KEY (`tfctl worker keygen`), so any worker can apply a plan with sensitive values made by another; null: none."
  type = object({
    name = string
    key  = string
  })
  default = null
}

variable "credentials_secret_names" {
  description = "Secrets whose keys all become environment variables: the state backends' and providers' credentials (AWS_*, ARM_*, GOOGLE_*, TF_TOKEN_*)."
  type        = list(string)
  default     = []
}

variable "env" {
  description = "More environment variables that hold no secret (e.g. TFCTL_TERRAFORM_STATE_BACKEND, TFCTL_TERRAFORM_CLI_CONFIG_FILE)."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "The Deployment's name; also the prefix of every worker's name."
  type        = string
  default     = "tfctl-worker"
}

variable "namespace" {
  description = "The namespace to run the workers in (it must exist)."
  type        = string
  default     = "default"
}

variable "replicas" {
  description = "How many worker pods; together they execute up to replicas x concurrency runs at once."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 0 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number, 0 or more."
  }
}

variable "concurrency" {
  description = "Runs one worker pod executes at the same time (`tfctl worker --concurrency`)."
  type        = number
  default     = 1

  validation {
    condition     = var.concurrency >= 1 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number, 1 or more."
  }
}

variable "termination_grace_period_seconds" {
  description = "Time between SIGTERM and SIGKILL. On SIGTERM a worker stops claiming and cancels its runs (SIGINT to terraform, SIGKILL 10 s later) and records them; this must cover that."
  type        = number
  default     = 60

  validation {
    condition     = var.termination_grace_period_seconds >= 30
    error_message = "termination_grace_period_seconds must be at least 30: terraform gets 10 s to stop gracefully, then the worker records the state and the run."
  }
}

variable "resources" {
  description = "CPU and memory requests and limits of each worker container (terraform and its providers run inside it)."
  type = object({
    requests_cpu    = string
    requests_memory = string
    limits_cpu      = string
    limits_memory   = string
  })
  default = {
    requests_cpu    = "250m"
    requests_memory = "512Mi"
    limits_cpu      = "2"
    limits_memory   = "2Gi"
  }
}

variable "work_volume_size" {
  description = "Size limit of the scratch volume for TFCTL_HOME (run directories, plan files, provider downloads)."
  type        = string
  default     = "2Gi"
}

variable "service_account_name" {
  description = "The pod's service account (e.g. one bound to a cloud role by workload identity); null: the namespace's default, with no token mounted."
  type        = string
  default     = null
}

variable "run_as_user" {
  description = "The non-root user (and group) id the worker runs as."
  type        = number
  default     = 10001
}

variable "image_pull_policy" {
  description = "When the kubelet pulls the image: Always, IfNotPresent or Never."
  type        = string
  default     = "IfNotPresent"
}

variable "labels" {
  description = "Extra labels for the Deployment and its pods."
  type        = map(string)
  default     = {}
}
