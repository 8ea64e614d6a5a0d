//! Differential oracle: compare our parse with rsip 0.4 on input rsip accepts.
//! Shared by `tests/rsip_oracle.rs` and the fuzz target `fuzz_targets/parse.rs`.

use rsip::prelude::*;

/// If rsip accepts `bytes` and we do too, the fields both decode must agree. Returns a
/// description of the first disagreement. Messages only one side accepts are not compared
/// here (rsip rejects much that is valid SIP; see `../../../shared/CRATES.md`).
pub fn compare(bytes: &[u8]) -> Result<(), String> {
    compare_inner(bytes)
}

/// A field is compared only when its header appears exactly once, in long form: rsip knows no
/// compact forms and picks a different line than we do when a single-value header repeats
/// (such a message is rejected with 400 by `validate_request` anyway).
fn single_long(ours: &hotline_sip::Message<'_>, name: &str) -> bool {
    ours.count(name) == 1
        && ours
            .headers
            .iter()
            .any(|h| h.name().eq_ignore_ascii_case(name))
}

/// Is there an LF not preceded by CR in the header section? We take a bare LF as a line end
/// (as Kamailio and PJSIP do); rsip does not, so the two parsers cut such lines differently
/// by design and are not compared.
fn has_bare_lf(bytes: &[u8]) -> bool {
    let head = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes, |end| &bytes[..end]);
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// A From/To tag is compared only when the header has one `tag` parameter: with several (say
/// a valueless `;tag` before `;tag=323`) rsip takes the last with a value, we take the first.
fn single_tag(ours: &hotline_sip::Message<'_>, name: &str) -> bool {
    single_long(ours, name)
        && ours
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
            .is_some_and(|h| {
                // rsip also mishandles LWS around `;` and `=` in parameters (RFC 3261 allows
                // it: `tag=   43251`), as in Via: such tags are not compared either.
                h.value.to_ascii_lowercase().matches(";tag").count() <= 1
                    && h.value
                        .split_once(';')
                        .is_none_or(|(_, p)| !p.contains([' ', '\t']))
            })
}

fn compare_inner(bytes: &[u8]) -> Result<(), String> {
    if has_bare_lf(bytes) {
        return Ok(());
    }
    let Ok(theirs) = rsip::SipMessage::try_from(bytes) else {
        return Ok(());
    };
    let Ok(ours) = hotline_sip::Message::parse(bytes) else {
        return Ok(());
    };
    // rsip's request-line parser may read the Request-URI across line ends up to a later
    // ` SIP/2.0` (in the body, say), so it describes another message than we do: compare only
    // when its first header is ours.
    let first_header = |h: Option<&rsip::Header>| {
        h.and_then(|h| {
            h.to_string()
                .split_once(':')
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
    };
    let their_first = first_header(theirs.headers().iter().next());
    let our_first = ours
        .headers
        .first()
        .map(|h| (h.name().to_ascii_lowercase(), h.value.trim().to_string()));
    if their_first != our_first {
        return Ok(());
    }
    match (&theirs, ours.method(), ours.status()) {
        (rsip::SipMessage::Request(r), Some(m), None) => {
            // rsip matches method names case-insensitively; RFC 3261 7.1 says they are
            // case-sensitive (`REGiSTER` is an extension method), so compare loosely.
            if !r.method().to_string().eq_ignore_ascii_case(m.as_str()) {
                return Err(format!("method: rsip {} ours {}", r.method(), m));
            }
        }
        (rsip::SipMessage::Response(r), None, Some(code)) => {
            if u16::from(r.status_code().clone()) != code.0 {
                return Err(format!("status: rsip {} ours {}", r.status_code(), code));
            }
        }
        _ => return Err("request/response kind differs".into()),
    }
    if let (Ok(c), Ok(o)) = (
        theirs.call_id_header(),
        ours.call_id().map_err(|_| ()).and_then(|c| {
            if single_long(&ours, "Call-ID") {
                Ok(c)
            } else {
                Err(())
            }
        }),
    ) && c.value().trim() != o
    {
        return Err(format!("Call-ID: rsip {:?} ours {o:?}", c.value()));
    }
    if let (Ok(Ok(seq)), Ok(o)) = (
        theirs.cseq_header().map(|c| c.seq()),
        ours.cseq().map_err(|_| ()).and_then(|c| {
            if single_long(&ours, "CSeq") {
                Ok(c)
            } else {
                Err(())
            }
        }),
    ) && seq != o.seq
    {
        return Err(format!("CSeq: rsip {seq} ours {}", o.seq));
    }
    if let (Ok(Ok(Some(tag))), Ok(o)) = (
        theirs.from_header().map(|f| f.tag()),
        ours.from_header().map_err(|_| ()).and_then(|c| {
            if single_tag(&ours, "From") {
                Ok(c)
            } else {
                Err(())
            }
        }),
    ) && Some(tag.value()) != o.tag()
    {
        return Err(format!(
            "From tag: rsip {:?} ours {:?}",
            tag.value(),
            o.tag()
        ));
    }
    if let (Ok(Ok(Some(tag))), Ok(o)) = (
        theirs.to_header().map(|f| f.tag()),
        ours.to_header().map_err(|_| ()).and_then(|c| {
            if single_tag(&ours, "To") {
                Ok(c)
            } else {
                Err(())
            }
        }),
    ) && Some(tag.value()) != o.tag()
    {
        return Err(format!("To tag: rsip {:?} ours {:?}", tag.value(), o.tag()));
    }
    if let (Ok(Ok(via)), Ok(o)) = (
        theirs.via_header().map(|v| v.typed()),
        ours.top_via().map_err(|_| ()).and_then(|c| {
            if ours.headers.iter().find(|h| h.is("Via")).is_some_and(|h| {
                // rsip mishandles LWS around `;` and `=` (RFC 3261 allows it): compare
                // only top Vias whose parameters have none.
                h.name().eq_ignore_ascii_case("Via")
                    && h.value
                        .split_once(';')
                        .is_none_or(|(_, p)| !p.contains([' ', '\t']))
                    // With several `branch` parameters (`;branch;branch=z9...`) rsip takes
                    // the last with a value, we the first: no meaning in RFC 3261, not compared.
                    && h.value.to_ascii_lowercase().matches(";branch").count() <= 1
            }) && ours.vias().is_ok()
            {
                Ok(c)
            } else {
                Err(())
            }
        }),
    ) && let Some(b) = via.branch()
        && Some(b.to_string().as_str()) != o.branch()
    {
        return Err(format!("branch: rsip {b} ours {:?}", o.branch()));
    }
    // rsip treats a blank line followed by a line starting with whitespace as folding and
    // reads on into the body; RFC 3261 7.5 ends the headers at the first empty line. Skip
    // the body comparison for such input.
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    // rsip also drops line breaks at the start of a body.
    if head_end.is_some_and(|p| matches!(bytes.get(p + 4), Some(b' ' | b'\t' | b'\r' | b'\n'))) {
        return Ok(());
    }
    // rsip takes everything after the blank line as body; we honour Content-Length
    // (RFC 3261 18.3), so rsip's body must start with ours. Without Content-Length a datagram's
    // body is the rest of it (18.3) while rsip may read none: not compared.
    // rsip does not truncate at Content-Length, and what it does with the extra bytes varies,
    // so bodies are compared only when Content-Length covers the whole rest of the input.
    let rest = head_end.map_or(0, |p| bytes.len() - (p + 4));
    if ours.content_length() == Some(rest) && theirs.body() != &*ours.body {
        return Err(format!(
            "body: rsip {} bytes ours {} bytes",
            theirs.body().len(),
            ours.body.len()
        ));
    }
    Ok(())
}
