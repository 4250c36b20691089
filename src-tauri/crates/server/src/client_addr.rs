//! Which address a request comes from. The connection's peer, unless the
//! peer is a proxy the operator trusts (`--trusted-proxy CIDR`): then the
//! address the proxy reports in `Forwarded` (RFC 7239) or, without it,
//! `X-Forwarded-For` — read from the right, past every trusted proxy, so a
//! client cannot pick its own address by sending the header itself.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block, `ADDRESS/BITS` (or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.bits)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: &[u8], address: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if network[..full] != address[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        network[full] & mask == address[full] & mask
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "{text:?} is not an address block: write ADDRESS/BITS, e.g. 10.0.0.0/8 or fd00::/8"
            )
        };
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let network = canonical(address.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(bits) => bits
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, bits })
    }
}

/// The proxies whose forwarded headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(address))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            // An unreadable or hidden hop ends what can be believed.
            let Some(address) = hop.map(canonical) else {
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// The addresses a request passed, from the client to the last proxy:
/// `Forwarded`'s `for=` values if the header is there, else `X-Forwarded-For`.
/// `None` for a hop that is not an address (`unknown`, an obfuscated name).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| node_address(value.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or a bare IPv6 address.
fn node_address(text: &str) -> Option<IpAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse().ok().or_else(|| {
        let (host, port) = text.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies(blocks.iter().map(|b| b.parse().unwrap()).collect())
    }

    #[test]
    fn address_blocks_parse_and_match() {
        let block: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(
            block.contains("::ffff:10.1.0.9".parse().unwrap()),
            "IPv4-mapped"
        );
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "proxy.example",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_believed_only_from_a_trusted_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let stranger: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(trusted.client_address(stranger, &spoofed), stranger);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            trusted.client_address(proxy, &spoofed),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            TrustedProxies::default().client_address(proxy, &spoofed),
            proxy
        );
    }

    #[test]
    fn the_chain_is_read_from_the_right_past_trusted_proxies() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        // The client claims 1.1.1.1; the real client is 203.0.113.9.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(
            trusted.client_address(proxy, &chain),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let forwarded = headers(&[
            ("forwarded", "for=1.1.1.1"),
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.5",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(
            trusted.client_address(proxy, &forwarded),
            "2001:db8:cafe::17".parse::<IpAddr>().unwrap(),
            "Forwarded wins over X-Forwarded-For"
        );
        let hidden = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(
            trusted.client_address(proxy, &hidden),
            "10.0.0.5".parse::<IpAddr>().unwrap(),
            "an unknown hop: the last believable address"
        );
        assert_eq!(
            trusted.client_address(proxy, &headers(&[])),
            proxy,
            "no header: the proxy itself"
        );
    }
}
