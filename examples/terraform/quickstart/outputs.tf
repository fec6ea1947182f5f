output "report_bot_registration_id" {
  description = "The ID of report-bot's registration (null once with_reporting_agent is false)."
  value       = one(vault_agent_registration.report_bot[*].id)
}

output "assistant_registration_id" {
  description = "The ID of the assistant's registration."
  value       = vault_agent_registration.assistant.id
}
