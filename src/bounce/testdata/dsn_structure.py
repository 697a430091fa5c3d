# dsn_structure.py - print the MIME structure of a delivery status notification as JSON
#
# Reads RFC 5322 messages (DSNs) from the files named on the command
# line, parses each with Python's email package and prints a JSON list
# with one entry per file: for every
# part its content type, parameters, Content-Description and
# Content-Transfer-Encoding; for message/delivery-status the field blocks
# (per-message first, then one per recipient); for text parts the decoded
# lines; for message/rfc822 the enclosed message's headers and body; for
# text/rfc822-headers the header names. Used by the bounce oracle tests to
# compare Postern's DSNs with Postfix's.
import email
import email.policy
import json
import sys


def part_info(part):
    info = {
        "content_type": part.get_content_type(),
        "params": {k: v for k, v in (part.get_params() or [])[1:]},
        "description": part.get("Content-Description"),
        "cte": part.get("Content-Transfer-Encoding"),
    }
    ctype = part.get_content_type()
    if ctype == "message/delivery-status" or ctype == "message/global-delivery-status":
        blocks = []
        for block in part.get_payload():
            blocks.append([[k, str(v)] for k, v in block.items()])
        info["blocks"] = blocks
    elif ctype == "message/rfc822" or ctype == "message/global":
        inner = part.get_payload()[0]
        info["inner_headers"] = [[k, str(v)] for k, v in inner.items()]
        info["inner_body"] = inner.get_payload()
    elif part.is_multipart():
        info["parts"] = [part_info(p) for p in part.get_payload()]
    else:
        text = part.get_payload(decode=True).decode("utf-8", "replace")
        info["lines"] = text.split("\n")
    return info


def structure(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.compat32)
    return {
        "headers": [[k, str(v)] for k, v in msg.items()],
        "defects": [type(d).__name__ for d in msg.defects],
        "root": part_info(msg),
    }


def main():
    print(json.dumps([structure(path) for path in sys.argv[1:]]))


main()
