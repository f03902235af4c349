"""Dockerfile parsing: forms of every instruction, directives, continuations, heredocs, errors with lines."""

from __future__ import annotations

import pytest

from devenv.build import dockerfile as df
from devenv.build.lexer import DockerfileError


def parse(text: str) -> df.Dockerfile:
    return df.parse(text, path="Dockerfile")


def test_stages_names_platform_and_global_args() -> None:
    d = parse(
        "ARG BASE=debian\nARG TAG\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG} AS Build\nRUN make\n"
        "FROM scratch\nCOPY --from=build /out /out\n"
    )
    assert [a.args for a in d.global_args] == [(("BASE", "debian"),), (("TAG", None),)]
    assert d.stages[0].source == df.From(
        line=3, original=d.stages[0].source.original, image="${BASE}:${TAG}", name="build", platform="$BUILDPLATFORM"
    )
    assert d.stages[1].name == "1"
    assert d.stage(None) is d.stages[1]
    assert d.stage("BUILD") is d.stages[0]
    copy = d.stages[1].instructions[0]
    assert isinstance(copy, df.Copy) and copy.from_ == "build" and copy.sources == ("/out",)


def test_unknown_target_lists_stages() -> None:
    with pytest.raises(DockerfileError, match=r"target stage .nope. could not be found.*a"):
        parse("FROM x AS a\nFROM y\n").stage("nope")


def test_run_shell_and_exec_forms_and_flags() -> None:
    d = parse(
        'FROM x\nRUN echo "a b" && \\\n    echo c\nRUN ["/bin/echo", "x"]\n'
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --network=none apt-get update\n"
    )
    r1, r2, r3 = d.stages[0].instructions
    assert isinstance(r1, df.Run) and r1.args == ('echo "a b" &&     echo c',) and not r1.json and r1.line == 2
    assert isinstance(r2, df.Run) and r2.args == ("/bin/echo", "x") and r2.json and r2.line == 4
    assert isinstance(r3, df.Run) and r3.network == "none"
    assert r3.mounts == (df.RunMount("cache", "/var/cache/apt", (("sharing", "locked"),)),)


def test_continuations_skip_comments_and_empty_lines() -> None:
    d = parse("FROM x\nRUN a \\\n# a comment\n\n  b \\\n  c\nUSER me\n")
    run, user = d.stages[0].instructions
    assert isinstance(run, df.Run) and run.args == ("a   b   c",)
    assert isinstance(user, df.User) and user.line == 7


def test_escape_directive_and_syntax() -> None:
    d = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n")
    assert d.escape == "`" and d.syntax == "docker/dockerfile:1"
    run = d.stages[0].instructions[0]
    assert isinstance(run, df.Run) and run.args == ("dir c:\\   && echo",)


def test_directives_only_at_the_top() -> None:
    d = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert d.escape == "\\"
    run = d.stages[0].instructions[0]
    assert isinstance(run, df.Run) and run.args == ("a  b",)


def test_env_and_label_forms() -> None:
    d = parse('FROM x\nENV A=1 B="two words" C=a\\ b\nENV OLD value with spaces\nLABEL "com.x"="y" z=1\n')
    e1, e2, lab = d.stages[0].instructions
    assert isinstance(e1, df.Env) and e1.pairs == (("A", "1"), ("B", '"two words"'), ("C", "a\\ b"))
    assert isinstance(e2, df.Env) and e2.pairs == (("OLD", "value with spaces"),)
    assert isinstance(lab, df.Label) and lab.pairs == (('"com.x"', '"y"'), ("z", "1"))


def test_copy_add_flags() -> None:
    d = parse(
        'FROM x\nCOPY --chown=1000:1000 --chmod=0755 a b /dst/\nADD ["s p", "/d"]\nADD --checksum=sha256:ab u /d\n'
    )
    c, a, a2 = d.stages[0].instructions
    assert isinstance(c, df.Copy) and c.chown == "1000:1000" and c.chmod == "0755" and c.sources == ("a", "b")
    assert c.dest == "/dst/" and not c.add
    assert isinstance(a, df.Copy) and a.add and a.sources == ("s p",) and a.dest == "/d"
    assert isinstance(a2, df.Copy) and a2.checksum == "sha256:ab"


def test_heredocs() -> None:
    text = (
        "FROM x\n"
        "RUN <<EOF\necho hi\necho $HOME\nEOF\n"
        "COPY <<-'END' /etc/motd\n\thello $NAME\n\tEND\n"
        "RUN cat <<A > /a && cat <<B > /b\n1\nA\n2\nB\n"
        "USER u\n"
    )
    d = parse(text)
    r, c, r2, u = d.stages[0].instructions
    assert isinstance(r, df.Run) and r.heredocs[0].name == "EOF" and r.heredocs[0].content == "echo hi\necho $HOME\n"
    assert r.heredocs[0].expand
    assert isinstance(c, df.Copy) and c.sources == ("<<-'END'",) and c.dest == "/etc/motd"
    doc = c.heredocs[0]
    assert doc.name == "END" and not doc.expand and doc.chomp and doc.text() == "hello $NAME\n"
    assert isinstance(r2, df.Run) and [h.content for h in r2.heredocs] == ["1\n", "2\n"]
    assert isinstance(u, df.User) and u.line == 14


def test_unterminated_heredoc_names_the_line() -> None:
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: unterminated heredoc 'EOF'"):
        parse("FROM x\nRUN <<EOF\necho\n")


def test_metadata_instructions() -> None:
    d = parse(
        'FROM x\nEXPOSE 80 443/udp\nVOLUME /data\nVOLUME ["/a", "/b"]\nSTOPSIGNAL SIGINT\n'
        'SHELL ["/bin/bash", "-c"]\nENTRYPOINT ["/init"]\nCMD echo hi\nWORKDIR /app\n'
        "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\nHEALTHCHECK NONE\n"
    )
    ins = d.stages[0].instructions
    assert ins[0] == df.Expose(line=2, original="EXPOSE 80 443/udp", ports=("80", "443/udp"))
    assert isinstance(ins[2], df.Volume) and ins[2].paths == ("/a", "/b")
    assert isinstance(ins[4], df.Shell) and ins[4].argv == ("/bin/bash", "-c")
    assert isinstance(ins[6], df.Cmd) and ins[6].args == ("echo hi",) and not ins[6].json
    hc = ins[8]
    assert isinstance(hc, df.Healthcheck) and hc.test == ("CMD-SHELL", "curl -f http://localhost/")
    assert hc.interval == 5 * 10**9 and hc.retries == 3
    assert isinstance(ins[9], df.Healthcheck) and ins[9].test == ("NONE",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN x\n", r"^Dockerfile:1: RUN before the first FROM"),
        ("FROM x\nFROB y\n", r"^Dockerfile:2: unknown instruction: FROB"),
        ("FROM x\nCOPY a\n", r"^Dockerfile:2: COPY requires at least two arguments"),
        ("FROM x\nCOPY --frm=a b c\n", r"^Dockerfile:2: unknown flag: --frm"),
        ("FROM x y\n", r"^Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM x\n\nSHELL /bin/sh\n", r"^Dockerfile:3: SHELL requires the arguments to be in JSON form"),
        ("FROM x\nENV A=1 B\n", r"^Dockerfile:2: syntax error - can't find = in 'B'"),
        ("FROM x\nENV A\n", r"^Dockerfile:2: ENV must have two arguments"),
        ("# empty\n", r"no FROM instruction"),
        ("FROM a AS x\nFROM b AS x\n", r"^Dockerfile:2: duplicate stage name 'x'"),
        ('FROM a\nRUN ["a", 1]\n', r"^Dockerfile:2: the JSON array must contain only strings"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        parse(text)


def test_bom_and_crlf() -> None:
    d = parse("\ufeffFROM x\r\nRUN a \\\r\n b\r\n")
    run = d.stages[0].instructions[0]
    assert isinstance(run, df.Run) and run.args == ("a  b",)
