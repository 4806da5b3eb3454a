# tfctl workers on Kubernetes: a Deployment of `tfctl worker` pods sharing one PostgreSQL job
# store. Workers claim queued runs atomically, so any number of replicas can run side by side.

locals {
  selector = {
    "app.kubernetes.io/name"     = "tfctl-worker"
    "app.kubernetes.io/instance" = var.name
  }
  labels = merge(var.labels, local.selector, { "app.kubernetes.io/component" = "worker" })
  home   = "/var/lib/tfctl"

  # The worker is listed by `tfctl worker list` only while its heartbeat is fresh (within
  # TFCTL_HEARTBEAT_TIMEOUT, 30 s): a hung worker, or one that lost the job store, drops out.
  liveness = "tfctl worker list --json | grep -qF \"\\\"name\\\": \\\"$POD_NAME\\\"\""
}

resource "kubernetes_deployment_v1" "worker" {
  metadata {
    name      = var.name
    namespace = var.namespace
    labels    = local.labels
  }

  spec {
    replicas = var.replicas

    selector {
      match_labels = local.selector
    }

    # Workers serve no traffic; a new one may start before an old one has finished its runs.
    strategy {
      type = "RollingUpdate"

      rolling_update {
        max_surge       = "25%"
        max_unavailable = "25%"
      }
    }

    template {
      metadata {
        labels = local.labels
      }

      spec {
        service_account_name             = var.service_account_name
        automount_service_account_token  = var.service_account_name != null
        termination_grace_period_seconds = var.termination_grace_period_seconds

        security_context {
          run_as_non_root = true
          run_as_user     = var.run_as_user
          run_as_group    = var.run_as_user
          fs_group        = var.run_as_user

          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name              = "worker"
          image             = var.image
          image_pull_policy = var.image_pull_policy
          # tfctl is PID 1, so SIGTERM reaches the worker itself: it stops claiming, cancels
          # its runs (terraform's graceful stop) and records them before it exits.
          command = ["tfctl"]
          args    = ["worker", "--concurrency", tostring(var.concurrency), "--name", "$(POD_NAME)"]

          env {
            name = "POD_NAME"
            value_from {
              field_ref {
                field_path = "metadata.name"
              }
            }
          }

          env {
            name = "TFCTL_DATABASE_URL"
            value_from {
              secret_key_ref {
                name = var.database_url_secret.name
                key  = var.database_url_secret.key
              }
            }
          }

          dynamic "env" {
            for_each = var.artifact_key_secret == null ? [] : [var.artifact_key_secret]
            content {
              name = "TFCTL_ARTIFACT_KEY"
              value_from {
                secret_key_ref {
                  name = env.value.name
                  key  = env.value.key
                }
              }
            }
          }

          env {
            name  = "TFCTL_HOME"
            value = local.home
          }

          # The root file system is read-only: anything that writes under ~ writes to the volume.
          env {
            name  = "HOME"
            value = local.home
          }

          dynamic "env" {
            for_each = var.env
            content {
              name  = env.key
              value = env.value
            }
          }

          dynamic "env_from" {
            for_each = var.credentials_secret_names
            content {
              secret_ref {
                name = env_from.value
              }
            }
          }

          resources {
            requests = {
              cpu    = var.resources.requests_cpu
              memory = var.resources.requests_memory
            }
            limits = {
              cpu    = var.resources.limits_cpu
              memory = var.resources.limits_memory
            }
          }

          liveness_probe {
            exec {
              command = ["/bin/sh", "-c", local.liveness]
            }
            initial_delay_seconds = 30
            period_seconds        = 30
            timeout_seconds       = 20
            failure_threshold     = 3
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true

            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "home"
            mount_path = local.home
          }

          # terraform and its provisioners write temporary files; the root file system is read-only.
          volume_mount {
            name       = "tmp"
            mount_path = "/tmp"
          }
        }

        volume {
          name = "home"
          empty_dir {
            size_limit = var.work_volume_size
          }
        }

        volume {
          name = "tmp"
          empty_dir {}
        }
      }
    }
  }
}
