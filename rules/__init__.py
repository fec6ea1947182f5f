"""Rules the service enforces and the Terraform provider checks at plan time, in one place for both.

Installed as `vaultguard.rules` (setup.py maps this folder). Pure Python without third-party imports: the
provider imports it while answering Terraform, and the service's domain code builds on it.

- `names`: policy names and namespace names.
- `oauth`: what an OAuth resource server profile accepts (algorithms, JWT types, limits) and how an issuer
  is compared.
- `registry`: agent registrations (display names, the default ceiling policies).
- `features`: the activation flags of gated features.
"""
