output "bucket" {
  description = "The bucket's name."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "The bucket's ARN, for IAM policies."
  value       = aws_s3_bucket.this.arn
}

output "region" {
  description = "The AWS region the bucket is in."
  value       = aws_s3_bucket.this.region
}

output "backend_config" {
  description = "Settings for a tfctl workspace that keeps its state here; add `key` (and nothing secret)."
  value = {
    bucket       = aws_s3_bucket.this.id
    region       = aws_s3_bucket.this.region
    use_lockfile = true
  }
}
