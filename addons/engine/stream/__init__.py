"""The client's side of an answer. Public: ``reply.ClientReply`` (what has
been sent, how to send more, errors in the client's format),
``holdback.ContentWatch``/``HoldBack`` (a stream's opening held until real
content), ``tap.UsageTap`` (usage read off a native answer)."""
