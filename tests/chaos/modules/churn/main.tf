# Chaos test module: every plan replaces the one resource (its trigger is the plan's time), so
# every queued plan has something to apply and every apply makes a new state version.

variable "dir" {
  type = string
}

variable "sleep_seconds" {
  type    = number
  default = 0
}

resource "terraform_data" "tick" {
  input            = "${var.dir}/tick"
  triggers_replace = [timestamp()]

  provisioner "local-exec" {
    command = "sleep \"$SLEEP\" && date +%s.%N >> \"$FILE\""
    environment = {
      SLEEP = var.sleep_seconds
      FILE  = self.input
    }
  }
}
