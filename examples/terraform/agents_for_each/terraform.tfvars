issuer = "https://agents.example.com/"

agents = {
  "deploy-bot" = {
    owner       = "platform-team"
    description = "Deploys the payments service from CI"
    subject     = "deploy-bot"
    read_paths  = ["secret/data/payments/*"]
  }
  "report-bot" = {
    owner      = "finance-team"
    subject    = "report-bot"
    read_paths = ["secret/data/reports/*", "secret/data/ledger/*"]
  }
}
