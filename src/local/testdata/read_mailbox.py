# Reads an mbox file or a Maildir with Python's mailbox module and prints
# one JSON object per message: selected headers and the body.
import json, mailbox, sys
kind, path = sys.argv[1], sys.argv[2]
box = mailbox.mbox(path, create=False) if kind == 'mbox' else mailbox.Maildir(path, create=False)
out = []
for key in sorted(box.keys()):
    m = box[key]
    out.append({
        'from_': m.get_from() if kind == 'mbox' else None,
        'return_path': m.get('Return-Path'),
        'delivered_to': m.get_all('Delivered-To'),
        'x_original_to': m.get('X-Original-To'),
        'subject': m.get('Subject'),
        'body': m.get_payload(),
    })
print(json.dumps(out))
