//! A one-pass reader of well-formed JSON into the borrowed tree. It takes only what it is sure
//! serde_json takes, and returns exactly serde_json's tree for it; anything else (an error, a
//! lone surrogate, deep nesting) is `None`, and the caller asks serde_json, whose verdict and
//! messages are then the ones given.

use std::borrow::Cow;

use super::{Json, Object};

/// Nesting beyond this is left to serde_json (its own limit is 128).
const MAX_DEPTH: u32 = 100;

/// Members or items reserved up front: most callback objects fit.
const RESERVED: usize = 8;

/// The tree of `bytes` when they are one well-formed JSON value, surrounded by whitespace at
/// most; `None` otherwise, or when in doubt.
pub fn parse(bytes: &[u8]) -> Option<Json<'_>> {
    // Valid UTF-8 throughout: every slice below starts and ends at an ASCII byte, so it is
    // valid text too.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = Reader {
        text,
        bytes,
        at: 0,
        depth: 0,
    };
    reader.skip_whitespace();
    let value = reader.value()?;
    reader.skip_whitespace();
    (reader.at == bytes.len()).then_some(value)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Steps over `byte` when it is next (after whitespace).
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self) -> Option<Json<'a>> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Json::String),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], value: Json<'a>) -> Option<Json<'a>> {
        if !self.bytes[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(value)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn object(&mut self) -> Option<Json<'a>> {
        self.enter()?;
        self.at += 1;
        let mut members = Vec::with_capacity(RESERVED);
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                // serde_json hands numbers over as an object with this key: such an object
                // reads differently there, so it is left to it.
                if key == super::NUMBER_TOKEN {
                    return None;
                }
                self.expect(b':')?;
                self.skip_whitespace();
                let value = self.value()?;
                members.push((key, value));
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Json::Object(Object(members)))
    }

    fn array(&mut self) -> Option<Json<'a>> {
        self.enter()?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                items.push(self.value()?);
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Json::Array(items))
    }

    /// A number's text exactly as written, by JSON's grammar (which serde_json follows).
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => {
                self.at += 1;
                // A leading zero stands alone.
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            // serde_json respells an exponent (`1E5` as `1e+5`): only its own spelling,
            // `e` and a sign, reads the same here; the rest is left to it.
            if self.peek() != Some(b'e') {
                return None;
            }
            self.at += 1;
            if !matches!(self.peek(), Some(b'+' | b'-')) {
                return None;
            }
            self.at += 1;
            self.some_digits()?;
        }
        Some(Json::Number(Cow::Borrowed(&self.text[start..self.at])))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// A string at `self.at` (its opening quote): borrowed when it holds no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at + 1;
        let rest = &self.bytes[start..];
        let end = plain_run(rest)?;
        if rest[end] == b'"' {
            self.at = start + end + 1;
            return Some(Cow::Borrowed(&self.text[start..start + end]));
        }
        let mut owned = String::with_capacity(end + 16);
        owned.push_str(&self.text[start..start + end]);
        self.at = start + end;
        self.escaped_rest(owned).map(Cow::Owned)
    }

    /// The rest of a string from its first backslash (at `self.at`), unescaped into `owned`.
    fn escaped_rest(&mut self, mut owned: String) -> Option<String> {
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(owned);
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.peek()?;
                    self.at += 1;
                    let unescaped = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    owned.push(unescaped);
                }
                _ => {
                    let rest = &self.bytes[self.at..];
                    let run = plain_run(rest)?;
                    owned.push_str(&self.text[self.at..self.at + run]);
                    self.at += run;
                }
            }
        }
    }

    /// The character of a `\u` escape (its `u` already read): a surrogate pair is one
    /// character; a lone surrogate is left to serde_json.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xDC00..0xE000).contains(&first) {
            return None;
        }
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first);
        }
        if !self.bytes[self.at..].starts_with(b"\\u") {
            return None;
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.at += 4;
        Some(value)
    }
}

/// How each byte reads inside a string: part of it, its end (a quote) or an escape (a
/// backslash), or refused (a control character, which JSON does not allow raw).
const PLAIN: u8 = 0;
const STOP: u8 = 1;
const REFUSED: u8 = 2;
const STRING_BYTES: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = REFUSED;
        b += 1;
    }
    table[b'"' as usize] = STOP;
    table[b'\\' as usize] = STOP;
    table
};

/// The length of the run of plain string bytes at the start of `rest`, up to a quote or a
/// backslash; `None` at a control character or when neither comes. Strings in callbacks
/// are short: eight bytes at a time in a register, then a table walk over the last few,
/// beat a vectorised search's setup.
fn plain_run(rest: &[u8]) -> Option<usize> {
    let mut end = 0;
    while let Some(word) = rest
        .get(end..end + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
    {
        if !all_plain(u64::from_le_bytes(word)) {
            break;
        }
        end += 8;
    }
    loop {
        match STRING_BYTES[usize::from(*rest.get(end)?)] {
            PLAIN => end += 1,
            STOP => return Some(end),
            _ => return None,
        }
    }
}

/// Whether none of the eight bytes in `word` is a quote, a backslash or a control character
/// (the classic "has a zero byte" / "has a byte below n" tests: exact for whether any byte
/// matches, which is all that is asked).
fn all_plain(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let quote = zero_in(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_in(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::samples::SAMPLES;

    #[test]
    fn eight_bytes_at_a_time_agree_with_the_table() {
        // Every byte value in every position of a word, among plain bytes of either kind.
        for filler in [b'a', 0x7f, 0xc3, 0xff, 0x20] {
            for special in 0..=255u8 {
                for at in 0..8 {
                    let mut word = [filler; 8];
                    word[at] = special;
                    let table = word.iter().all(|b| STRING_BYTES[usize::from(*b)] == PLAIN);
                    assert_eq!(all_plain(u64::from_le_bytes(word)), table, "{word:?}");
                }
            }
        }
    }

    fn by_serde(bytes: &[u8]) -> Result<Json<'_>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whatever the direct reader takes, serde_json takes too, as the same tree.
    fn agrees(bytes: &[u8]) -> bool {
        match parse(bytes) {
            Some(direct) => {
                let serde = by_serde(bytes).unwrap_or_else(|e| {
                    panic!(
                        "taken directly, refused by serde_json ({e}): {}",
                        String::from_utf8_lossy(bytes)
                    )
                });
                assert_eq!(direct, serde, "{}", String::from_utf8_lossy(bytes));
                true
            }
            None => false,
        }
    }

    const ODD: &[&str] = &[
        "{}",
        "[]",
        " \t\r\n{ \"a\" : [ 1 , -0 , 0.5 , -1.25e+10 , 3e-2 , 1e+05 , 12345678901234567890123 ] } \n",
        "[3E-2]",
        "[1e5]",
        r#""plain""#,
        r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \u4e2d \ud83d\ude00 end""#,
        r#"{"a":{"b":{"c":[[[]]]}},"d":null,"e":true,"f":false}"#,
        r#"{"a":1,"a":2}"#,
        "[1,2,]",
        "{\"a\":1,}",
        "01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "nul",
        "truex",
        "\"tab\there\"",
        "\"\\x\"",
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83d\u0041""#,
        r#""\u00zz""#,
        "\"unterminated",
        "[\"a\"",
        "{} {}",
        "",
        "   ",
        "\u{feff}{}",
        "{\"$serde_json::private::Number\":\"1\"}",
    ];

    #[test]
    fn every_sample_is_read_directly_as_serde_json_reads_it() {
        for sample in SAMPLES {
            assert!(agrees(sample.json.as_bytes()), "{}", sample.command);
        }
    }

    #[test]
    fn odd_inputs_are_read_alike_or_left_to_serde_json() {
        let mut taken = 0;
        for input in ODD {
            if agrees(input.as_bytes()) {
                taken += 1;
            } else if let Ok(tree) = by_serde(input.as_bytes()) {
                // Left aside though serde_json takes it: only the cases meant to be.
                assert!(
                    input.contains("\\ud83d\"")
                        || input.contains("\\ude00\"")
                        || input.contains("$serde")
                        || *input == "[3E-2]"
                        || *input == "[1e5]",
                    "left aside though serde_json takes it: {input} as {tree:?}"
                );
            }
        }
        assert_eq!(taken, 7, "the well-formed ones");
    }

    #[test]
    fn deep_nesting_is_left_to_serde_json() {
        let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
        assert!(parse(deep.as_bytes()).is_none());
        let fine = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert!(agrees(fine.as_bytes()));
    }

    /// Mutations of real bodies (bytes replaced, inserted, removed): never a tree serde_json
    /// would not give.
    #[test]
    fn mutated_bodies_never_disagree() {
        let alphabet = b"{}[]\":,\\/ -+.0123456789eEtrufalsn\x01\t\nu";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut taken = 0;
        let mut total = 0;
        for sample in SAMPLES {
            for _ in 0..400 {
                let mut body = sample.json.as_bytes().to_vec();
                for _ in 0..=(next() % 3) {
                    let at = usize::try_from(next()).unwrap_or(0) % (body.len() + 1);
                    let byte = alphabet[usize::try_from(next()).unwrap_or(0) % alphabet.len()];
                    match next() % 3 {
                        0 if at < body.len() => body[at] = byte,
                        1 => body.insert(at, byte),
                        _ if at < body.len() => {
                            body.remove(at);
                        }
                        _ => body.push(byte),
                    }
                }
                total += 1;
                if agrees(&body) {
                    taken += 1;
                }
            }
        }
        // Some mutations keep the body valid (a digit for a digit, a space): those are read
        // directly, the rest left aside.
        assert!(taken > 0 && taken < total, "{taken} of {total}");
    }
}
