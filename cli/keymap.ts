// Characters typed on the host terminal as PC key presses (US layout, KeyboardEvent.code
// names as the PS/2 keyboard takes them): which keys go down, then come up. Control
// characters map to their keys (Enter, Tab, Backspace, Escape, Ctrl+letter) and the
// terminal's arrow-key sequences (ESC [ A..D) to the arrow keys. Anything else is dropped.

export interface KeyPress {
  down: string[];
  up: string[];
}

const PLAIN: Record<string, string> = {
  ' ': 'Space', '-': 'Minus', '=': 'Equal', '[': 'BracketLeft', ']': 'BracketRight', '\\': 'Backslash',
  ';': 'Semicolon', "'": 'Quote', '`': 'Backquote', ',': 'Comma', '.': 'Period', '/': 'Slash',
  '\r': 'Enter', '\n': 'Enter', '\t': 'Tab', '\x7f': 'Backspace', '\b': 'Backspace',
};
const SHIFTED: Record<string, string> = {
  '!': 'Digit1', '@': 'Digit2', '#': 'Digit3', $: 'Digit4', '%': 'Digit5', '^': 'Digit6', '&': 'Digit7', '*': 'Digit8',
  '(': 'Digit9', ')': 'Digit0', _: 'Minus', '+': 'Equal', '{': 'BracketLeft', '}': 'BracketRight', '|': 'Backslash',
  ':': 'Semicolon', '"': 'Quote', '~': 'Backquote', '<': 'Comma', '>': 'Period', '?': 'Slash',
};
const ARROWS: Record<string, string> = { A: 'ArrowUp', B: 'ArrowDown', C: 'ArrowRight', D: 'ArrowLeft' };

function press(code: string, mod?: string): KeyPress {
  return mod ? { down: [mod, code], up: [code, mod] } : { down: [code], up: [code] };
}

export function keyPressesFor(text: string): KeyPress[] {
  const out: KeyPress[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\x1b' && text[i + 1] === '[' && ARROWS[text[i + 2]]) {
      out.push(press(ARROWS[text[i + 2]]));
      i += 2;
    } else if (c === '\x1b') out.push(press('Escape'));
    else if (c >= 'a' && c <= 'z') out.push(press(`Key${c.toUpperCase()}`));
    else if (c >= 'A' && c <= 'Z') out.push(press(`Key${c}`, 'ShiftLeft'));
    else if (c >= '0' && c <= '9') out.push(press(`Digit${c}`));
    else if (PLAIN[c]) out.push(press(PLAIN[c]));
    else if (SHIFTED[c]) out.push(press(SHIFTED[c], 'ShiftLeft'));
    else {
      const n = c.charCodeAt(0);
      if (n >= 1 && n <= 26) out.push(press(`Key${String.fromCharCode(64 + n)}`, 'ControlLeft'));
    }
  }
  return out;
}
