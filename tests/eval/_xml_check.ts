/**
 * A small XML well-formedness checker for tests (no XML parser is available
 * without JSR): one root, balanced and properly nested tags, quoted unique
 * attributes, no raw `<` or stray `&` in text or attributes.
 */

/** One element as parsed. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
}

/**
 * @param xml the document
 * @returns every element in document order
 * @throws Error describing the first well-formedness problem
 */
export function checkWellFormedXml(xml: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;
  const checkText = (text: string, where: number) => {
    for (let k = 0; k < text.length; k++) {
      if (text[k] === "<") throw new Error(`raw '<' at ${where + k}`);
      if (text[k] === "&") {
        entity.lastIndex = k;
        if (!entity.test(text)) throw new Error(`bad entity at ${where + k}`);
      }
    }
  };
  if (xml.startsWith("<?xml")) {
    const end = xml.indexOf("?>");
    if (end < 0) throw new Error("unterminated XML declaration");
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    checkText(text, i);
    if (stack.length === 0 && text.trim() !== "") throw new Error(`text outside the root at ${i}`);
    if (lt < 0) break;
    if (xml.startsWith("<!--", lt)) {
      const end = xml.indexOf("-->", lt);
      if (end < 0) throw new Error("unterminated comment");
      i = end + 3;
      continue;
    }
    const gt = xml.indexOf(">", lt);
    if (gt < 0) throw new Error(`unterminated tag at ${lt}`);
    const tag = xml.slice(lt + 1, gt);
    if (tag.startsWith("/")) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${lt}`);
    } else {
      const selfClosing = tag.endsWith("/");
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)/.exec(body);
      if (!m) throw new Error(`bad tag name at ${lt}`);
      const attrs: Record<string, string> = {};
      let rest = body.slice(m[1].length);
      const attr = /^\s+([A-Za-z_][\w:.-]*)="([^"<]*)"/;
      while (rest.trim() !== "") {
        const a = attr.exec(rest);
        if (!a) throw new Error(`bad attribute in <${m[1]}> at ${lt}: ${rest.slice(0, 30)}`);
        if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} at ${lt}`);
        checkText(a[2], lt);
        attrs[a[1]] = a[2];
        rest = rest.slice(a[0].length);
      }
      if (stack.length === 0) roots++;
      elements.push({ name: m[1], attrs });
      if (!selfClosing) stack.push(m[1]);
    }
    i = gt + 1;
  }
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)}>`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
  return elements;
}
