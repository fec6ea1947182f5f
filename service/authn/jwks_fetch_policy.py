"""Where the server may fetch a JWKS from (docs/security.md, "Outbound requests").

A namespace administrator chooses a profile's `jwks_uri`, so without a rule the server would fetch any
address it can reach for them: its own loopback services, cloud metadata endpoints, the internal network.
In production the rule is: `https` only, and every address the host name resolves to must be public unless
it lies in one of the operator's `jwks_allowed_networks`. The check is made on the resolved addresses at
fetch time, and the connection goes to the address that was checked (the name is not resolved twice, so a
DNS answer that changes in between cannot slip an internal address past it). The dev server allows all.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchRefused(Exception):
    """The JWKS address is not allowed; the message is for the server log, never for API callers."""


def parse_networks(values: list[str]) -> tuple[Network, ...]:
    """CIDR blocks (`10.1.0.0/16`, `fd00::/8`, a single address); ValueError names the first bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f'"{value}" is not an IP network in CIDR form, like "10.0.0.0/8"') from None
    return tuple(networks)


def is_internal(address: Address) -> bool:
    """Loopback, link-local, private (RFC 1918, unique local, shared CGN space), unspecified, multicast and
    reserved addresses: everything that is not a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class FetchPolicy:
    """`open` (dev): anything goes, names are resolved by the HTTP client as usual. Otherwise `https` only and
    internal addresses only inside `allowed_networks`."""

    open: bool = True
    allowed_networks: tuple[Network, ...] = ()

    def check_scheme(self, scheme: str, uri: str) -> None:
        if not self.open and scheme != "https":
            raise FetchRefused(f"{uri}: a jwks_uri must use https outside dev mode")

    def allowed(self, address: Address) -> bool:
        return not is_internal(address) or any(address in network for network in self.allowed_networks)

    def checked_address(self, host: str, port: int, uri: str) -> Address:
        """The address to connect to for `host`: every address it resolves to must be allowed (one internal
        answer among public ones is still refused), and the first is used."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as error:
                raise FetchRefused(f"{uri}: cannot resolve {host}: {error}") from None
            addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        refused = [str(a) for a in addresses if not self.allowed(a)]
        if refused or not addresses:
            raise FetchRefused(
                f"{uri}: {host} resolves to {', '.join(refused) or 'nothing'}, an internal address outside "
                "jwks_allowed_networks"
            )
        return addresses[0]
