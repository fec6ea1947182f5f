# The policy text is checked at plan time with the server's own parser: a typo such as
# capabilities = ["reed"] fails `terraform validate`.
resource "vault_policy" "payments_reader" {
  name   = "payments-reader"
  policy = <<-EOT
    path "secret/data/payments/*" {
      capabilities = ["read", "list"]
    }

    path "secret/metadata/payments/*" {
      capabilities = ["list"]
    }
  EOT
}
