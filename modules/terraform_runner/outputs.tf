output "name" {
  description = "The Deployment's name."
  value       = kubernetes_deployment_v1.worker.metadata[0].name
}

output "namespace" {
  description = "The namespace the workers run in."
  value       = kubernetes_deployment_v1.worker.metadata[0].namespace
}

output "replicas" {
  description = "How many worker pods the Deployment asks for."
  value       = var.replicas
}

output "selector" {
  description = "Labels that select the worker pods (e.g. `kubectl logs -l ...`)."
  value       = local.selector
}
