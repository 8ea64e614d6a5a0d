//! IP networks (`address/prefix`), for the sources a session accepts media from: a carrier's
//! media servers often send from other hosts than its signalling server (see
//! [`crate::RemoteParams::media_networks`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: `192.0.2.0/24`, `2001:db8::/32`, or one host (`198.51.100.7`,
/// prefix 32 or 128). IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`) count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetError {
    /// The part before `/` is not an IP address.
    #[error("not an IP address")]
    BadAddress,
    /// The part after `/` is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("prefix length must be 0-32 for IPv4 and 0-128 for IPv6")]
    BadPrefix,
}

impl IpNet {
    /// The network of `addr` with `prefix` leading bits (the host bits of `addr` are ignored).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, IpNetError> {
        let addr = addr.to_canonical();
        if prefix > max_prefix(addr) {
            return Err(IpNetError::BadPrefix);
        }
        Ok(IpNet { addr, prefix })
    }

    /// One host.
    pub fn host(addr: IpAddr) -> IpNet {
        let addr = addr.to_canonical();
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// True when `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| IpNetError::BadAddress)?;
        match prefix {
            None => Ok(IpNet::host(addr)),
            Some(p) => {
                let prefix = p.parse::<u8>().map_err(|_| IpNetError::BadPrefix)?;
                IpNet::new(addr, prefix)
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_networks_and_hosts() {
        let n: IpNet = "192.0.2.0/24".parse().unwrap();
        assert!(n.contains(ip("192.0.2.0")));
        assert!(n.contains(ip("192.0.2.255")));
        assert!(!n.contains(ip("192.0.3.1")));
        assert!(
            n.contains(ip("::ffff:192.0.2.9")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!n.contains(ip("2001:db8::1")));
        let h: IpNet = "198.51.100.7".parse().unwrap();
        assert!(h.contains(ip("198.51.100.7")));
        assert!(!h.contains(ip("198.51.100.8")));
        assert_eq!(h.to_string(), "198.51.100.7/32");
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
    }

    #[test]
    fn v6_networks() {
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("192.0.2.1")));
        let all: IpNet = "::/0".parse().unwrap();
        assert!(all.contains(ip("2001:db9::1")));
    }

    #[test]
    fn bad_networks_are_refused() {
        assert_eq!("10.0.0.0/33".parse::<IpNet>(), Err(IpNetError::BadPrefix));
        assert_eq!("10.0.0.0/x".parse::<IpNet>(), Err(IpNetError::BadPrefix));
        assert_eq!("carrier/8".parse::<IpNet>(), Err(IpNetError::BadAddress));
        assert_eq!(
            "2001:db8::/129".parse::<IpNet>(),
            Err(IpNetError::BadPrefix)
        );
    }
}
