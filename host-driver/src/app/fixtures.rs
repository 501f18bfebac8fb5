//! Byte fixtures for the FTP parsers: every command and reply form we handle and every malformed
//! form we refuse, with the expected result.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ftp::{
    parse_227, parse_229, parse_command, reply_line, Command, EpsvArg, LineAssembler, LineEvent,
    ParseError, ReplyLine,
};

const V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Command lines (without terminator) and what they parse to.
pub const COMMANDS: &[(&[u8], Result<Command, ParseError>)] = &[
    (b"PORT 10,0,0,2,4,1", Ok(Command::Port(V4, 1025))),
    (b"port 10,0,0,2,4,1", Ok(Command::Port(V4, 1025))),
    (b"PoRt 10,0,0,2,255,255", Ok(Command::Port(V4, 65535))),
    (b"PORT  10,0,0,2,0,1", Ok(Command::Port(V4, 1))),
    (b"PORT 10,0,0,2,4,1 ", Ok(Command::Port(V4, 1025))),
    (b"PORT 010,000,000,002,004,001", Ok(Command::Port(V4, 1025))),
    (
        b"\xff\xf4\xff\xf2PORT 10,0,0,2,4,1",
        Ok(Command::Port(V4, 1025)),
    ),
    (b"PORT 300,0,0,2,4,1", Err(ParseError::OutOfRange)),
    (b"PORT 10,0,0,2,256,1", Err(ParseError::OutOfRange)),
    (b"PORT 10,0,0,2,1,1000", Err(ParseError::OutOfRange)),
    (b"PORT 10,0,0,2,0,0", Err(ParseError::PortZero)),
    (b"PORT 10,0,0,2,4", Err(ParseError::Count)),
    (b"PORT 10,0,0,2,4,1,7", Err(ParseError::Count)),
    (b"PORT 10,0,,2,4,1", Err(ParseError::NotNumber)),
    (b"PORT 10,0,0,2,4,1x", Err(ParseError::Trailing)),
    (b"PORT 10,0,0,2,4,1\r", Err(ParseError::Trailing)),
    (b"PORT 10,0,0,2,4,1\0", Err(ParseError::Trailing)),
    (b"PORT -1,0,0,2,4,1", Err(ParseError::NotNumber)),
    (b"PORT", Err(ParseError::Missing)),
    (b"PORT ", Err(ParseError::Missing)),
    (b"PORT (10,0,0,2,4,1)", Err(ParseError::NotNumber)),
    (
        b"EPRT |1|10.0.0.2|6275|",
        Ok(Command::Eprt(IpAddr::V4(V4), 6275)),
    ),
    (
        b"eprt !1!10.0.0.2!6275!",
        Ok(Command::Eprt(IpAddr::V4(V4), 6275)),
    ),
    (
        b"EPRT |2|2001:db8::2|5282|",
        Ok(Command::Eprt(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            5282,
        )),
    ),
    (
        b"EPRT |2|::ffff:10.0.0.2|21|",
        Ok(Command::Eprt(
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0002)),
            21,
        )),
    ),
    (b"EPRT |1|10.0.0.256|6275|", Err(ParseError::Address)),
    (b"EPRT |1|2001:db8::2|6275|", Err(ParseError::Address)),
    (b"EPRT |2|10.0.0.2|6275|", Err(ParseError::Address)),
    (b"EPRT |3|10.0.0.2|6275|", Err(ParseError::Family)),
    (b"EPRT |1|10.0.0.2|65536|", Err(ParseError::OutOfRange)),
    (b"EPRT |1|10.0.0.2|0|", Err(ParseError::PortZero)),
    (b"EPRT |1|10.0.0.2|123456|", Err(ParseError::OutOfRange)),
    (b"EPRT |1|10.0.0.2|62x|", Err(ParseError::NotNumber)),
    (b"EPRT |1|10.0.0.2|6275", Err(ParseError::Delimiter)),
    (b"EPRT 1|1|10.0.0.2|6275|", Err(ParseError::Delimiter)),
    (
        b"EPRT \x7f1\x7f10.0.0.2\x7f6275\x7f",
        Err(ParseError::Delimiter),
    ),
    (b"EPRT |||6275|", Err(ParseError::Address)),
    (b"EPRT |1|10.0.0.2|6275|junk", Err(ParseError::Trailing)),
    (b"EPRT", Err(ParseError::Missing)),
    (b"PASV", Ok(Command::Pasv)),
    (b"pasv", Ok(Command::Pasv)),
    (b"PASV junk", Err(ParseError::Trailing)),
    (b"EPSV", Ok(Command::Epsv(EpsvArg::Any))),
    (b"EPSV 1", Ok(Command::Epsv(EpsvArg::Family(1)))),
    (b"EPSV 2", Ok(Command::Epsv(EpsvArg::Family(2)))),
    (b"EPSV ALL", Ok(Command::Epsv(EpsvArg::All))),
    (b"epsv all", Ok(Command::Epsv(EpsvArg::All))),
    (b"EPSV 3", Err(ParseError::Family)),
    (b"EPSV ALL now", Err(ParseError::Trailing)),
    (b"LPRT 4,4,10,0,0,2,2,4,1", Ok(Command::Long)),
    (b"LPSV", Ok(Command::Long)),
    (b"USER anonymous", Ok(Command::Other)),
    (b"RETR PORT 10,0,0,2,4,1", Ok(Command::Other)),
    (b"PORTX 1,2,3,4,5,6", Ok(Command::Other)),
    (b"", Ok(Command::Other)),
    (b"\0\0\0\0", Ok(Command::Other)),
    (b"\x80\x81garbage\xfe", Ok(Command::Other)),
];

#[test]
fn command_fixtures() {
    for (line, want) in COMMANDS {
        assert_eq!(
            parse_command(line),
            *want,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// 227 texts (after `227 `): the address, port and the tuple's byte range.
#[allow(clippy::type_complexity)]
pub const REPLIES_227: &[(&[u8], Result<(Ipv4Addr, u16, (usize, usize)), ParseError>)] = &[
    (
        b"Entering Passive Mode (10,1,0,2,156,64).",
        Ok((Ipv4Addr::new(10, 1, 0, 2), 40000, (23, 38))),
    ),
    (
        b"Entering Passive Mode (10,1,0,2,156,64)",
        Ok((Ipv4Addr::new(10, 1, 0, 2), 40000, (23, 38))),
    ),
    (
        b"=10,1,0,2,156,64",
        Ok((Ipv4Addr::new(10, 1, 0, 2), 40000, (1, 16))),
    ),
    (
        b"Entering Passive Mode v2 10,1,0,2,156,64",
        Ok((Ipv4Addr::new(10, 1, 0, 2), 40000, (25, 40))),
    ),
    (
        b"Entering Passive Mode (300,1,0,2,156,64)",
        Err(ParseError::OutOfRange),
    ),
    (
        b"Entering Passive Mode (10,1,0,2,156,300)",
        Err(ParseError::OutOfRange),
    ),
    (
        b"Entering Passive Mode (10,1,0,2,0,0)",
        Err(ParseError::PortZero),
    ),
    (
        b"Entering Passive Mode (10,1,0,2,156)",
        Err(ParseError::Count),
    ),
    (b"Entering Passive Mode", Err(ParseError::Missing)),
    (b"", Err(ParseError::Missing)),
    (
        b"Entering Passive Mode (a,b,c,d,e,f)",
        Err(ParseError::NotNumber),
    ),
];

#[test]
fn reply_227_fixtures() {
    for (text, want) in REPLIES_227 {
        let got = parse_227(text).map(|(a, p, r)| (a, p, (r.start, r.end)));
        assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(text));
    }
}

/// 229 texts: the address (if any), port and the range between the parentheses.
#[allow(clippy::type_complexity)]
pub const REPLIES_229: &[(
    &[u8],
    Result<(Option<IpAddr>, u16, (usize, usize)), ParseError>,
)] = &[
    (
        b"Entering Extended Passive Mode (|||40000|)",
        Ok((None, 40000, (32, 41))),
    ),
    (b"EPSV ok (!!!40000!)", Ok((None, 40000, (9, 18)))),
    (
        b"Entering Extended Passive Mode (|1|10.1.0.2|40000|)",
        Ok((
            Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2))),
            40000,
            (32, 50),
        )),
    ),
    (
        b"Entering Extended Passive Mode (|2|2001:db8::5|40000|)",
        Ok((
            Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5))),
            40000,
            (32, 53),
        )),
    ),
    (
        b"Entering Extended Passive Mode (|||70000|)",
        Err(ParseError::OutOfRange),
    ),
    (
        b"Entering Extended Passive Mode (|||0|)",
        Err(ParseError::PortZero),
    ),
    (
        b"Entering Extended Passive Mode (|||40000)",
        Err(ParseError::Delimiter),
    ),
    (
        b"Entering Extended Passive Mode (|||40000|",
        Err(ParseError::Trailing),
    ),
    (
        b"Entering Extended Passive Mode (1112221)",
        Err(ParseError::Delimiter),
    ),
    (
        b"Entering Extended Passive Mode |||40000|",
        Err(ParseError::Missing),
    ),
    (
        b"Entering Extended Passive Mode (|5|x|40000|)",
        Err(ParseError::Family),
    ),
];

#[test]
fn reply_229_fixtures() {
    for (text, want) in REPLIES_229 {
        let got = parse_229(text).map(|(a, p, r)| (a, p, (r.start, r.end)));
        assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(text));
    }
}

#[test]
fn reply_line_shapes() {
    assert_eq!(
        reply_line(b"227 Entering"),
        ReplyLine::Final {
            code: *b"227",
            text: b"Entering"
        }
    );
    assert_eq!(
        reply_line(b"211-Features:"),
        ReplyLine::First {
            code: *b"211",
            text: b"Features:"
        }
    );
    assert_eq!(
        reply_line(b"200"),
        ReplyLine::Final {
            code: *b"200",
            text: b""
        }
    );
    assert_eq!(reply_line(b" EPSV"), ReplyLine::Text(b" EPSV"));
    assert_eq!(reply_line(b"22"), ReplyLine::Text(b"22"));
    assert_eq!(reply_line(b"2270 x"), ReplyLine::Text(b"2270 x"));
    assert_eq!(reply_line(b"\0\0\0 "), ReplyLine::Text(b"\0\0\0 "));
}

fn lines(max: usize, pieces: &[&[u8]], seq: u32) -> Vec<LineEvent> {
    let mut a = LineAssembler::new(max);
    let mut out = Vec::new();
    let mut s = seq;
    for p in pieces {
        a.push(s, p, &mut out);
        s = s.wrapping_add(p.len() as u32);
    }
    out
}

fn line(seq: u32, b: &[u8]) -> LineEvent {
    LineEvent::Line {
        seq,
        bytes: b.to_vec(),
    }
}

#[test]
fn line_assembly() {
    // pipelined, CRLF and bare LF, CR without LF stays in the line, empty lines
    assert_eq!(
        lines(64, &[b"USER a\r\nPASS b\nX\rY\r\n\r\n"], 10),
        vec![
            line(10, b"USER a"),
            line(18, b"PASS b"),
            line(25, b"X\rY"),
            line(30, b"")
        ]
    );
    // split at every place gives the same lines
    let whole: &[u8] = b"PORT 10,0,0,2,4,1\r\nPASV\r\n";
    let want = lines(64, &[whole], u32::MAX - 5);
    for i in 0..=whole.len() {
        for j in i..=whole.len() {
            assert_eq!(
                lines(64, &[&whole[..i], &whole[i..j], &whole[j..]], u32::MAX - 5),
                want
            );
        }
    }
    // a partial line is held, not reported
    assert_eq!(lines(64, &[b"PORT 10,0,0"], 0), vec![]);
    // limit: 8 bytes of line (+ CR) fit, 9 do not; the rest of an overlong line is skipped
    assert_eq!(lines(8, &[b"12345678\r\n"], 0), vec![line(0, b"12345678")]);
    assert_eq!(lines(8, &[b"12345678\n"], 0), vec![line(0, b"12345678")]);
    assert_eq!(
        lines(8, &[b"123456789\nOK\n"], 0),
        vec![LineEvent::Overlong { seq: 0 }, line(10, b"OK")]
    );
    assert_eq!(
        lines(8, &[b"1234", b"56789012", b"34\nOK\n"], 0),
        vec![LineEvent::Overlong { seq: 0 }, line(15, b"OK")]
    );
}
