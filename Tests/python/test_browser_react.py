"""Issue 13: reactions in real pages (Debian's chromium through Playwright) on two workers of a real
`echo`: chips under a bubble with counts, who reacted on hover, keyboard focus and long press, a
picker (common reactions, then the emoji picker with search), toggling by clicking, `react` frames
live and `reactions` in history; plus the page's rules for edit, delete and react entries checked
in the page itself."""
from __future__ import annotations

import json

from playwright.sync_api import expect

from test_browser import DESKTOP, PHONE, Tab, browser, echo, tabs  # noqa: F401 (fixtures)
from test_browser_edit import audit, open_menu, sent, two_people

ENTRY_RULES = r"""
async () => {
  const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
  const { PageState, applyEdit, applyDelete, applyReaction, reactionsFrom } = await import(base + 'state.js');
  const problems = [];
  const check = (ok, what) => { if (!ok) problems.push(what); };
  const names = (m, emoji) => [...(m.reactions.get(emoji)?.values() ?? [])];

  // Reactions: a session's on/off is absolute, so the same frame twice changes nothing.
  const m = { id: '5-0', text: 'hi', reactions: reactionsFrom({ '👍': ['ada', 'grace'] }) };
  check(names(m, '👍').join() === 'ada,grace', 'history reactions by name');
  check(applyReaction(m, { emoji: '👍', sessionId: 's1', username: 'linus', on: true }), 'a new reaction applies');
  check(!applyReaction(m, { emoji: '👍', sessionId: 's1', username: 'linus', on: true }), 'the same reaction again is no change');
  check(names(m, '👍').length === 3, `three thumbs: ${names(m, '👍')}`);
  check(applyReaction(m, { emoji: '👍', sessionId: 's9', username: 'grace', on: false }), 'a reaction known by name only is taken back');
  check(names(m, '👍').join() === 'ada,linus', `after grace's off: ${names(m, '👍')}`);
  check(!applyReaction(m, { emoji: '👍', sessionId: 's9', username: 'grace', on: false }), 'an off for nobody changes nothing');
  applyReaction(m, { emoji: '👍', sessionId: 's1', username: 'linus', on: false });
  applyReaction(m, { emoji: '👍', sessionId: 's0', username: 'ada', on: false });
  check(!m.reactions.has('👍'), 'the last one off removes the chip');
  check(reactionsFrom(undefined).size === 0 && reactionsFrom({ '🎉': [] }).size === 0, 'no or empty reactions');

  // Edits: the newest text wins; a deleted message takes no edit and no reaction.
  const e = { id: '6-0', text: 'v0' };
  check(applyEdit(e, { text: 'v1', editedAt: 1 }) && e.text === 'v1' && e.editedAt === 1, 'edit applies');
  check(applyDelete(e) && e.deleted && e.text === '' && e.image === null, 'delete empties the message');
  check(!applyDelete(e), 'a second delete is no change');
  check(!applyEdit(e, { text: 'v2' }) && e.text === '', 'no edit after a delete');
  check(!applyReaction(e, { emoji: '🎉', sessionId: 's1', username: 'x', on: true }), 'no reaction on a deleted message');

  // Entries are applied once by position, and move the resume position forward.
  sessionStorage.clear();
  const state = new PageState();
  state.enter('room-entries-check', 'Ada', 'create');
  state.receive({ type: 'chat', id: '10-0', messageId: '10-0', text: 'x' });
  check(state.receiveEntry({ type: 'edit', id: '12-0', messageId: '10-0' }), 'a new entry');
  check(!state.receiveEntry({ type: 'edit', id: '12-0', messageId: '10-0' }), 'the same entry again');
  check(state.lastId === '12-0', `resume after the entry: ${state.lastId}`);
  state.joined('before');
  state.joined('now');
  check(state.isMine('now') && state.isMine('before') && state.isMine('#0:Ada'),
        'a reaction of any of our sessions, or known by our name, is ours (the server keeps one per authorKey)');
  check(!state.isMine('someone-else') && !state.isMine('#1:Grace') && !state.isMine('#2:Adam'),
        'another session or another name is not ours');
  state.leave();
  return problems;
}
"""


def chip(tab: Tab, text: str, emoji: str):
    return tab.bubble(text).locator(f'.reaction[data-emoji="{emoji}"]')


def test_entry_rules_in_the_page(tabs):
    tab = tabs().open()
    problems = tab.page.evaluate(ENTRY_RULES)
    assert problems == [], "\n".join(problems)


def test_reactions_between_two_people(tabs, echo):
    ada, grace, code = two_people(tabs, echo)
    assert "react" in ada.frames("session")[-1]["features"]
    ada.send("react to me")
    grace.expect_text("react to me")

    # Grace reacts from the keyboard: the bubble's menu, "Add reaction…", the common row.
    menu = open_menu(grace, "react to me")
    grace.page.keyboard.press("Enter")  # "Add reaction…" is first
    panel = grace.page.locator("#react-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".reaction-quick .emoji-option").first).to_be_focused()
    audit([(grace, "react-picker-light-phone")])
    grace.page.keyboard.press("Enter")  # 👍, the first common one
    expect(panel).to_be_hidden()
    for tab in (ada, grace):
        expect(chip(tab, "react to me", "👍")).to_have_text("👍1")
        expect(chip(tab, "react to me", "👍")).to_have_attribute("data-who", "Grace")
    message_id = ada.bubble("react to me").get_attribute("data-id")
    assert sent(grace, "react") == [{"messageId": message_id, "emoji": "👍"}]
    expect(chip(grace, "react to me", "👍")).to_have_attribute("aria-pressed", "true")
    expect(chip(ada, "react to me", "👍")).to_have_attribute("aria-pressed", "false")
    expect(chip(ada, "react to me", "👍")).to_have_accessible_name("👍 1: Grace. React with 👍")

    # Ada adds hers by clicking the chip; a second emoji through the picker's search.
    chip(ada, "react to me", "👍").click()
    for tab in (ada, grace):
        expect(chip(tab, "react to me", "👍")).to_have_text("👍2")
        expect(chip(tab, "react to me", "👍")).to_have_attribute("data-who", "Grace, Ada")
    expect(chip(ada, "react to me", "👍")).to_be_focused()  # the redraw keeps the keyboard's place
    ada.bubble("react to me").hover()
    ada.bubble("react to me").locator(".more-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Add reaction…").click()
    ada.page.fill("#react-search", "parrot")
    ada.page.locator("#react-panel .emoji-grid .emoji-option", has_text="🦜").first.click()
    for tab in (ada, grace):
        expect(chip(tab, "react to me", "🦜")).to_have_text("🦜1")
    frames = [f for f in grace.frames("react") if f["emoji"] == "🦜"]
    assert frames and frames[-1]["on"] is True and frames[-1]["username"] == "Ada"

    # Who reacted: shown on hover and on keyboard focus (the chip's tooltip), in both themes.
    chip(ada, "react to me", "👍").hover()
    tooltip = ada.page.evaluate("""() => getComputedStyle(document.querySelector('.reaction[data-emoji="👍"]'), '::after').content""")
    assert tooltip == '"Grace, Ada"', tooltip
    chip(grace, "react to me", "👍").focus()
    audit([(ada, "reactions-dark-desktop"), (grace, "reactions-light-phone")])

    # Clicking one's own reaction takes it back.
    chip(grace, "react to me", "👍").click()
    for tab in (ada, grace):
        expect(chip(tab, "react to me", "👍")).to_have_text("👍1")
        expect(chip(tab, "react to me", "👍")).to_have_attribute("data-who", "Ada")
    assert grace.frames("react")[-1]["on"] is False

    # History: someone joining later sees the same reactions, each counted once.
    linus = tabs(viewport=DESKTOP, color_scheme="light")
    linus.join_by_link(code, "Linus")
    expect(chip(linus, "react to me", "👍")).to_have_text("👍1")
    expect(chip(linus, "react to me", "🦜")).to_have_text("🦜1")
    history = linus.frames("history")[-1]["messages"]
    carried = next(m for m in history if m.get("text") == "react to me")
    assert carried["reactions"] == {"👍": ["Ada"], "🦜": ["Ada"]}, carried
    # ...and toggles: Linus's reaction shows on every page.
    chip(linus, "react to me", "🦜").click()
    for tab in (ada, grace, linus):
        expect(chip(tab, "react to me", "🦜")).to_have_text("🦜2")

    # A reload keeps Ada's reactions hers (one per authorKey): pressed, and one click takes her 👍
    # back, for every page, instead of adding her name a second time.
    ada.page.reload()
    ada.wait_in_room()
    expect(chip(ada, "react to me", "👍")).to_have_attribute("aria-pressed", "true")
    expect(chip(ada, "react to me", "🦜")).to_have_attribute("aria-pressed", "true")
    chip(ada, "react to me", "👍").click()
    for tab in (ada, grace, linus):
        expect(chip(tab, "react to me", "👍")).to_have_count(0)
        expect(chip(tab, "react to me", "🦜")).to_have_text("🦜2")
    off = grace.frames("react")[-1]
    assert off["on"] is False and off["username"] == "Ada" and off["emoji"] == "👍", off


def test_long_press_shows_who_reacted_and_a_resume_brings_reactions(tabs, echo):
    ada, grace, _ = two_people(tabs, echo)  # Grace is on a phone: touch
    ada.send("long press me")
    grace.expect_text("long press me")
    last_seen = grace.bubble("long press me").get_attribute("data-id")

    # Reactions made while Grace is away arrive with her resume.
    grace.context.set_offline(True)
    expect(grace.page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    ada.bubble("long press me").locator(".more-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Add reaction…").click()
    ada.page.locator("#react-panel .reaction-quick .emoji-option").nth(1).click()  # ❤️
    expect(chip(ada, "long press me", "❤️")).to_have_text("❤️1")
    grace.context.set_offline(False)
    grace.wait_in_room()
    joins = [json.loads(f)["payload"] for f in grace.sent_frames if '"join"' in f]
    assert joins[-1]["since"] == last_seen
    heart = chip(grace, "long press me", "❤️")
    expect(heart).to_have_text("❤️1")

    # A long press shows the names without toggling.
    box = heart.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    grace.page.evaluate("""([x, y]) => {
        const target = document.elementFromPoint(x, y);
        const init = { bubbles: true, pointerType: 'touch', isPrimary: true, clientX: x, clientY: y };
        target.dispatchEvent(new PointerEvent('pointerdown', init));
        return new Promise((done) => setTimeout(() => {
            target.dispatchEvent(new PointerEvent('pointerup', init));
            target.click();
            done();
        }, 700));
    }""", [x, y])
    expect(heart).to_have_class("reaction show-who")
    assert grace.page.evaluate("""() => getComputedStyle(document.querySelector('.reaction.show-who'), '::after').content""") == '"Ada"'
    assert sent(grace, "react") == [], "a long press must not toggle"
