# A module that needs no provider download: terraform_data with local-exec provisioners
# creates a real file on apply and removes it on destroy.

variable "greeting" {
  type        = string
  description = "The text written to the file."
}

variable "output_file" {
  type        = string
  description = "The absolute path of the file to write (set per workspace: --var output_file=...)."
}

locals {
  file = var.output_file
}

resource "terraform_data" "greeting" {
  input = {
    greeting = var.greeting
    file     = local.file
  }

  provisioner "local-exec" {
    command = "printf '%s\\n' \"$GREETING\" > \"$FILE\""
    environment = {
      GREETING = self.input.greeting
      FILE     = self.input.file
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f \"$FILE\""
    environment = {
      FILE = self.input.file
    }
  }
}

output "greeting" {
  value = terraform_data.greeting.output.greeting
}

output "file" {
  value = terraform_data.greeting.output.file
}
