//! Open311's XML: any serializable answer written as the standard's elements, fields in
//! the order their types declare them (as the JSON form has them).
//!
//! A struct or map is an element per field; a list is an element holding one element per
//! item, named by the standard's singular of the list's name (`services` → `service`,
//! `service_requests` → `request`, `values` → `value`, …); `None` and an empty string are
//! an empty element. Text is escaped, and characters XML 1.0 cannot carry are dropped. No
//! crate is needed for this little: serde already walks the values.

use std::fmt::Write;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// A value as the XML holds it: its fields in order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Nothing (`None`, unit): an empty element.
    Empty,
    /// Text.
    Text(String),
    /// Items of a list.
    List(Vec<Node>),
    /// Fields, in order.
    Fields(Vec<(String, Node)>),
}

/// Why a value cannot be written as XML (a map with keys that are not strings, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot write this as XML: {0}")]
pub struct XmlError(String);

impl ser::Error for XmlError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        XmlError(msg.to_string())
    }
}

/// The element name of the items of a list called `list`, as the standard names them.
fn item_name(list: &str) -> &str {
    match list {
        "services" => "service",
        "service_requests" => "request",
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        "errors" => "error",
        "keywords" => "keyword",
        other => other.strip_suffix('s').filter(|s| !s.is_empty()).unwrap_or("item"),
    }
}

/// `value` as an XML document whose root element is `root`, with the standard's
/// declaration.
pub fn document<T: Serialize + ?Sized>(root: &str, value: &T) -> Result<String, XmlError> {
    let node = value.serialize(NodeSerializer)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    write_node(&mut out, root, &node);
    out.push('\n');
    Ok(out)
}

fn write_node(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::Empty => {
            let _ = write!(out, "<{name}/>");
        }
        Node::Text(text) if text.is_empty() => {
            let _ = write!(out, "<{name}/>");
        }
        Node::Text(text) => {
            let _ = write!(out, "<{name}>");
            escape_into(out, text);
            let _ = write!(out, "</{name}>");
        }
        Node::List(items) => {
            let _ = write!(out, "<{name}>");
            let item = item_name(name);
            for node in items {
                write_node(out, item, node);
            }
            let _ = write!(out, "</{name}>");
        }
        Node::Fields(fields) => {
            let _ = write!(out, "<{name}>");
            for (field, node) in fields {
                write_node(out, field, node);
            }
            let _ = write!(out, "</{name}>");
        }
    }
}

/// Escapes text for an element's content; drops what XML 1.0 cannot hold at all.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A parser turns a raw CR (and CR LF) into LF: written as a reference, it reads
            // back as itself (found by fuzz/fuzz_targets/open311_xml.rs).
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
}

/// Turns a serializable value into a [`Node`].
struct NodeSerializer;

/// A list being serialized.
struct ListBuilder(Vec<Node>);

/// A struct or map being serialized.
struct FieldsBuilder {
    fields: Vec<(String, Node)>,
    key: Option<String>,
}

type Out<T> = std::result::Result<T, XmlError>;

fn text(value: impl ToString) -> Out<Node> {
    Ok(Node::Text(value.to_string()))
}

impl ser::Serializer for NodeSerializer {
    type Ok = Node;
    type Error = XmlError;
    type SerializeSeq = ListBuilder;
    type SerializeTuple = ListBuilder;
    type SerializeTupleStruct = ListBuilder;
    type SerializeTupleVariant = Impossible<Node, XmlError>;
    type SerializeMap = FieldsBuilder;
    type SerializeStruct = FieldsBuilder;
    type SerializeStructVariant = Impossible<Node, XmlError>;

    fn serialize_bool(self, v: bool) -> Out<Node> {
        text(v)
    }
    fn serialize_i8(self, v: i8) -> Out<Node> {
        text(v)
    }
    fn serialize_i16(self, v: i16) -> Out<Node> {
        text(v)
    }
    fn serialize_i32(self, v: i32) -> Out<Node> {
        text(v)
    }
    fn serialize_i64(self, v: i64) -> Out<Node> {
        text(v)
    }
    fn serialize_u8(self, v: u8) -> Out<Node> {
        text(v)
    }
    fn serialize_u16(self, v: u16) -> Out<Node> {
        text(v)
    }
    fn serialize_u32(self, v: u32) -> Out<Node> {
        text(v)
    }
    fn serialize_u64(self, v: u64) -> Out<Node> {
        text(v)
    }
    fn serialize_f32(self, v: f32) -> Out<Node> {
        text(v)
    }
    fn serialize_f64(self, v: f64) -> Out<Node> {
        text(v)
    }
    fn serialize_char(self, v: char) -> Out<Node> {
        text(v)
    }
    fn serialize_str(self, v: &str) -> Out<Node> {
        text(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Out<Node> {
        Err(XmlError("bytes".into()))
    }
    fn serialize_none(self) -> Out<Node> {
        Ok(Node::Empty)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Out<Node> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Out<Node> {
        Ok(Node::Empty)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Out<Node> {
        Ok(Node::Empty)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Out<Node> {
        text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Out<Node> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Out<Node> {
        Ok(Node::Fields(vec![(variant.to_owned(), value.serialize(self)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Out<ListBuilder> {
        Ok(ListBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Out<ListBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Out<ListBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Out<Self::SerializeTupleVariant> {
        Err(XmlError("tuple variants".into()))
    }
    fn serialize_map(self, len: Option<usize>) -> Out<FieldsBuilder> {
        Ok(FieldsBuilder { fields: Vec::with_capacity(len.unwrap_or(0)), key: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Out<FieldsBuilder> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Out<Self::SerializeStructVariant> {
        Err(XmlError("struct variants".into()))
    }
}

impl ser::SerializeSeq for ListBuilder {
    type Ok = Node;
    type Error = XmlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Out<()> {
        self.0.push(value.serialize(NodeSerializer)?);
        Ok(())
    }
    fn end(self) -> Out<Node> {
        Ok(Node::List(self.0))
    }
}

impl ser::SerializeTuple for ListBuilder {
    type Ok = Node;
    type Error = XmlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Out<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Out<Node> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for ListBuilder {
    type Ok = Node;
    type Error = XmlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Out<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Out<Node> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for FieldsBuilder {
    type Ok = Node;
    type Error = XmlError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Out<()> {
        match key.serialize(NodeSerializer)? {
            Node::Text(name) if is_name(&name) => {
                self.key = Some(name);
                Ok(())
            }
            other => Err(XmlError(format!("{other:?} is not an element name"))),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Out<()> {
        let key = self.key.take().ok_or_else(|| XmlError("a value without its key".into()))?;
        self.fields.push((key, value.serialize(NodeSerializer)?));
        Ok(())
    }
    fn end(self) -> Out<Node> {
        Ok(Node::Fields(self.fields))
    }
}

impl ser::SerializeStruct for FieldsBuilder {
    type Ok = Node;
    type Error = XmlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Out<()> {
        self.fields.push((key.to_owned(), value.serialize(NodeSerializer)?));
        Ok(())
    }
    fn skip_field(&mut self, _: &'static str) -> Out<()> {
        Ok(())
    }
    fn end(self) -> Out<Node> {
        Ok(Node::Fields(self.fields))
    }
}

/// Whether `name` may name an element: ASCII letters, digits, `_`, `-`, `.`, not
/// starting with a digit, `-` or `.`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Value {
        key: String,
        name: String,
    }

    #[derive(Serialize)]
    struct Attribute {
        code: &'static str,
        required: bool,
        order: u32,
        values: Vec<Value>,
        missing: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
    }

    #[test]
    fn fields_keep_their_order_and_lists_name_their_items() {
        let attribute = Attribute {
            code: "severity",
            required: false,
            order: 1,
            values: vec![Value { key: "I".into(), name: "特别重大 <一级> & \"最高\"".into() }],
            missing: None,
            skipped: None,
        };
        let xml = document("attributes", &[attribute]).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<attributes><attribute><code>severity</code>\
             <required>false</required><order>1</order><values><value><key>I</key>\
             <name>特别重大 &lt;一级&gt; &amp; &quot;最高&quot;</name></value></values><missing/>\
             </attribute></attributes>\n"
        );
    }

    #[test]
    fn characters_xml_cannot_hold_are_dropped_and_the_rest_kept() {
        let xml = document("errors", &[("\u{1}a\tb\u{FFFF}", 4)]).unwrap();
        assert!(xml.contains("<error><item>a\tb</item><item>4</item></error>"), "{xml}");
        assert!(document("x", &std::collections::BTreeMap::from([("1bad", 1)])).is_err());
        assert_eq!(item_name("service_requests"), "request");
        assert_eq!(item_name("s"), "item");
    }

    #[test]
    fn a_carriage_return_is_written_so_that_it_reads_back() {
        let xml = document("errors", &[("a\r\nb\rc", 1)]).unwrap();
        // A raw CR would read back as LF (XML's end-of-line handling); a reference is kept.
        assert!(xml.contains("<item>a&#13;\nb&#13;c</item>"), "{xml}");
        assert!(!xml.contains('\r'), "{xml}");
    }
}
