// Lexer, parser and tree-walking evaluator of the Jinja subset chat templates use (see jinja.h).
#include "runtime/jinja.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <ctime>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "formats/error.h"
#include "runtime/jinja_value.h"

namespace ckpt::runtime {

using namespace jinja;

namespace {

struct Pos {
  int line = 1, col = 1;
};

class TemplateError : public std::runtime_error {
 public:
  TemplateError(Pos p, const std::string& what) : std::runtime_error(what), pos(p) {}
  Pos pos;
};

// ---------------------------------------------------------------- lexer

struct Token {
  enum Kind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof } kind;
  std::string text;
  int64_t i = 0;
  double f = 0;
  Pos pos;
};

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    size_t text_start = 0;
    bool strip_next = false, trim_newline = false;
    while (true) {
      const size_t open = find_tag(text_start);
      std::string text = s_.substr(text_start, (open == std::string::npos ? s_.size() : open) - text_start);
      if (strip_next) {
        const size_t k = text.find_first_not_of(" \t\r\n");
        text = k == std::string::npos ? "" : text.substr(k);
      } else if (trim_newline) {
        if (text.starts_with("\r\n")) text.erase(0, 2);
        else if (text.starts_with("\n")) text.erase(0, 1);
      }
      if (open == std::string::npos) {
        if (!text.empty()) out.push_back({Token::Text, text, 0, 0, pos_at(text_start)});
        break;
      }
      const char kind = s_[open + 1];
      const bool left_strip = open + 2 < s_.size() && s_[open + 2] == '-';
      const bool keep_left = open + 2 < s_.size() && s_[open + 2] == '+';
      if (left_strip) {
        const size_t k = text.find_last_not_of(" \t\r\n");
        text = k == std::string::npos ? "" : text.substr(0, k + 1);
      } else if ((kind == '%' || kind == '#') && !keep_left) {
        // lstrip_blocks: spaces and tabs from the start of the line up to a block tag.
        const size_t nl = text.find_last_of('\n');
        const size_t line_start = nl == std::string::npos ? 0 : nl + 1;
        const bool at_line_start = nl != std::string::npos || text_start == 0 || ends_line_before(text_start);
        if (at_line_start && text.find_first_not_of(" \t", line_start) == std::string::npos) text.erase(line_start);
      }
      if (!text.empty()) out.push_back({Token::Text, text, 0, 0, pos_at(text_start)});
      size_t p = open + 2 + (left_strip || keep_left ? 1 : 0);
      if (kind == '#') {
        const size_t end = s_.find("#}", p);
        if (end == std::string::npos) throw TemplateError(pos_at(open), "unclosed comment");
        strip_next = end > 0 && s_[end - 1] == '-';
        trim_newline = !strip_next;
        text_start = end + 2;
        continue;
      }
      out.push_back({kind == '{' ? Token::VarBegin : Token::BlockBegin, "", 0, 0, pos_at(open)});
      const std::string close = kind == '{' ? "}}" : "%}";
      p = lex_inside(p, close, out);
      const bool right_strip = s_[p] == '-';
      if (right_strip) ++p;
      if (s_[p] == '+') ++p;
      out.push_back({kind == '{' ? Token::VarEnd : Token::BlockEnd, "", 0, 0, pos_at(p)});
      strip_next = right_strip;
      trim_newline = !right_strip && kind == '%';  // trim_blocks
      text_start = p + 2;
    }
    out.push_back({Token::Eof, "", 0, 0, pos_at(s_.size())});
    return out;
  }

 private:
  const std::string& s_;

  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string::npos; p = s_.find('{', p + 1)) {
      if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
    }
    return std::string::npos;
  }
  bool ends_line_before(size_t at) const { return at > 0 && s_[at - 1] == '\n'; }

  // Line and column of a byte offset; offsets mostly grow, so counting resumes where it stopped.
  Pos pos_at(size_t at) const {
    if (at < last_at_) {
      last_at_ = 0;
      last_pos_ = Pos{};
    }
    for (size_t k = last_at_; k < at && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++last_pos_.line;
        last_pos_.col = 1;
      } else {
        ++last_pos_.col;
      }
    }
    last_at_ = std::max(last_at_, std::min(at, s_.size()));
    return last_pos_;
  }
  mutable size_t last_at_ = 0;
  mutable Pos last_pos_;

  // Tokens up to `close` (optionally preceded by '-' or '+'); returns the position of the marker.
  size_t lex_inside(size_t p, const std::string& close, std::vector<Token>& out) const {
    while (true) {
      while (p < s_.size() && std::isspace(static_cast<unsigned char>(s_[p]))) ++p;
      if (p >= s_.size()) throw TemplateError(pos_at(p), "unclosed tag: expected '" + close + "'");
      if ((s_[p] == '-' || s_[p] == '+') && s_.compare(p + 1, 2, close) == 0) return p;
      if (s_.compare(p, 2, close) == 0) return p;
      const Pos at = pos_at(p);
      const char c = s_[p];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = p;
        while (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
        out.push_back({Token::Name, s_.substr(p, e - p), 0, 0, at});
        p = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = p;
        while (e < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
        bool is_float = false;
        if (e + 1 < s_.size() && s_[e] == '.' && std::isdigit(static_cast<unsigned char>(s_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e]))) ++e;
        }
        std::string num = s_.substr(p, e - p);
        num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
        Token t{is_float ? Token::Float : Token::Int, num, 0, 0, at};
        errno = 0;
        if (is_float) t.f = std::strtod(num.c_str(), nullptr); else t.i = std::strtoll(num.c_str(), nullptr, 10);
        if (errno == ERANGE) throw TemplateError(at, "number " + num + " is out of range");
        out.push_back(t);
        p = e;
      } else if (c == '\'' || c == '"') {
        std::string v;
        size_t e = p + 1;
        for (; e < s_.size() && s_[e] != c; ++e) {
          if (s_[e] == '\\' && e + 1 < s_.size()) {
            const char n = s_[++e];
            switch (n) {
              case 'n': v += '\n'; break;
              case 't': v += '\t'; break;
              case 'r': v += '\r'; break;
              case '0': v += '\0'; break;
              default: v += n;
            }
          } else {
            v += s_[e];
          }
        }
        if (e >= s_.size()) throw TemplateError(at, "unterminated string");
        out.push_back({Token::String, v, 0, 0, at});
        p = e + 1;
      } else {
        static const char* ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]",
                                    "{", "}", ",", ".", ":", "|", "="};
        bool matched = false;
        for (const char* op : ops) {
          const size_t n = std::char_traits<char>::length(op);
          if (s_.compare(p, n, op) == 0) {
            out.push_back({Token::Op, op, 0, 0, at});
            p += n;
            matched = true;
            break;
          }
        }
        if (!matched) throw TemplateError(at, std::string("unexpected character '") + c + "'");
      }
    }
  }
};

// ---------------------------------------------------------------- syntax tree

struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
  enum Kind { Lit, Var, Attr, Index, Slice, Call, Filter, Test, Unary, Binary, Cond, ListLit, DictLit, TupleLit } kind;
  Value value;       // Lit
  std::string name;  // Var, Attr, Filter, Test, Unary/Binary op
  std::vector<ExprP> kids;
  std::vector<std::pair<std::string, ExprP>> kwargs;
  bool negated = false;  // Test: "is not"
  int depth = 1;         // of the subtree: evaluation recurses this deep
  Pos pos;
};

struct Node;
using NodeP = std::unique_ptr<Node>;
using Body = std::vector<NodeP>;
struct Node {
  enum Kind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue } kind;
  std::string text;                               // Text; Set / SetBlock / Macro name
  std::string attr;                               // Set: ns.attr
  ExprP expr;                                     // Output, Set, For iterable
  std::vector<std::pair<ExprP, Body>> branches;   // If (a null condition: else)
  std::vector<std::string> targets;               // For, Set with tuple targets
  ExprP filter;                                   // For ... if cond
  Body body, else_body;                           // For, Macro, SetBlock
  std::vector<std::pair<std::string, ExprP>> params;  // Macro (default may be null)
  Pos pos;
};

// ---------------------------------------------------------------- parser

// Templates come inside model files: nesting, loop lengths, macro recursion and output size are capped
// so a hostile one is an error, not a stack overflow, a hang or unbounded memory.
constexpr int kMaxDepth = 200;
constexpr size_t kMaxOutput = size_t{64} << 20;
constexpr uint64_t kMaxSteps = 50'000'000;
constexpr int64_t kMaxRange = 10'000'000;
constexpr int kMaxExprDepth = 1000;

// Records how deep `e`'s subtree is; chains built in loops (a + b + ..., x|f|f|...) count too.
void deepen(Expr& e) {
  for (const auto& k : e.kids) {
    if (k) e.depth = std::max(e.depth, k->depth + 1);
  }
  for (const auto& [name, k] : e.kwargs) {
    if (k) e.depth = std::max(e.depth, k->depth + 1);
  }
  if (e.depth > kMaxExprDepth) throw TemplateError(e.pos, "an expression nested more than 1000 levels deep");
}

struct DepthGuard {
  int& depth;
  DepthGuard(int& d, Pos at) : depth(d) {
    if (++depth > kMaxDepth) throw TemplateError(at, "nested more than " + std::to_string(kMaxDepth) + " levels deep");
  }
  ~DepthGuard() { --depth; }
};

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_template() {
    Body body = parse_body({});
    if (peek().kind != Token::Eof) throw TemplateError(peek().pos, "unexpected tag");
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t k_ = 0;
  int depth_ = 0;

  const Token& peek(size_t ahead = 0) const { return t_[std::min(k_ + ahead, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(k_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t ahead = 0) const { return peek(ahead).kind == Token::Op && peek(ahead).text == op; }
  bool is_name(const char* n, size_t ahead = 0) const { return peek(ahead).kind == Token::Name && peek(ahead).text == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) throw TemplateError(peek().pos, std::string("expected '") + op + "'");
    ++k_;
  }
  std::string expect_name() {
    if (peek().kind != Token::Name) throw TemplateError(peek().pos, "expected a name");
    return next().text;
  }
  void expect_block_end() {
    if (peek().kind != Token::BlockEnd) throw TemplateError(peek().pos, "expected '%}'");
    ++k_;
  }

  // Statements until a block tag whose keyword is in `stops` (left unconsumed, after its '{%').
  Body parse_body(const std::vector<std::string>& stops) {
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.kind == Token::Eof) {
        if (!stops.empty()) throw TemplateError(t.pos, "missing {% " + stops.back() + " %}");
        return body;
      }
      if (t.kind == Token::Text) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Text;
        n->text = t.text;
        n->pos = t.pos;
        body.push_back(std::move(n));
        ++k_;
      } else if (t.kind == Token::VarBegin) {
        ++k_;
        auto n = std::make_unique<Node>();
        n->kind = Node::Output;
        n->pos = t.pos;
        n->expr = parse_expression();
        if (peek().kind != Token::VarEnd) throw TemplateError(peek().pos, "expected '}}'");
        ++k_;
        body.push_back(std::move(n));
      } else if (t.kind == Token::BlockBegin) {
        const Token& kw = peek(1);
        if (kw.kind == Token::Name && std::find(stops.begin(), stops.end(), kw.text) != stops.end()) return body;
        ++k_;
        body.push_back(parse_statement());
      } else {
        throw TemplateError(t.pos, "unexpected token");
      }
    }
  }

  NodeP parse_statement() {
    const Pos at = peek().pos;
    const DepthGuard guard(depth_, at);
    const std::string kw = expect_name();
    auto n = std::make_unique<Node>();
    n->pos = at;
    if (kw == "if") {
      n->kind = Node::If;
      ExprP cond = parse_expression();
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"});
      n->branches.emplace_back(std::move(cond), std::move(body));
      while (true) {
        ++k_;  // '{%'
        const std::string w = expect_name();
        if (w == "elif") {
          ExprP c = parse_expression();
          expect_block_end();
          Body b = parse_body({"elif", "else", "endif"});
          n->branches.emplace_back(std::move(c), std::move(b));
        } else if (w == "else") {
          expect_block_end();
          Body b = parse_body({"endif"});
          n->branches.emplace_back(nullptr, std::move(b));
        } else {
          expect_block_end();
          break;
        }
      }
    } else if (kw == "for") {
      n->kind = Node::For;
      n->targets.push_back(expect_name());
      while (is_op(",")) {
        ++k_;
        n->targets.push_back(expect_name());
      }
      if (!is_name("in")) throw TemplateError(peek().pos, "expected 'in'");
      ++k_;
      n->expr = parse_ternary_free();
      if (is_name("if")) {
        ++k_;
        n->filter = parse_expression();
      }
      if (is_name("recursive")) throw TemplateError(peek().pos, "recursive loops are not supported");
      expect_block_end();
      n->body = parse_body({"else", "endfor"});
      ++k_;
      if (expect_name() == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"});
        ++k_;
        expect_name();
      }
      expect_block_end();
    } else if (kw == "set") {
      std::string target = expect_name();
      if (is_op(".")) {
        ++k_;
        n->attr = expect_name();
      }
      n->text = target;
      n->targets.push_back(target);
      while (is_op(",")) {
        ++k_;
        n->targets.push_back(expect_name());
      }
      if (is_op("=")) {
        ++k_;
        n->kind = Node::Set;
        n->expr = parse_expression();
        expect_block_end();
      } else {
        n->kind = Node::SetBlock;
        expect_block_end();
        n->body = parse_body({"endset"});
        ++k_;
        expect_name();
        expect_block_end();
      }
    } else if (kw == "macro") {
      n->kind = Node::Macro;
      n->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        std::string p = expect_name();
        ExprP def;
        if (is_op("=")) {
          ++k_;
          def = parse_expression();
        }
        n->params.emplace_back(std::move(p), std::move(def));
        if (is_op(",")) ++k_;
      }
      expect_op(")");
      expect_block_end();
      n->body = parse_body({"endmacro"});
      ++k_;
      expect_name();
      expect_block_end();
    } else if (kw == "break" || kw == "continue") {
      n->kind = kw == "break" ? Node::Break : Node::Continue;
      expect_block_end();
    } else if (kw == "generation" || kw == "endgeneration") {
      // transformers' {% generation %} marks assistant text for masks; it renders its content as is.
      n->kind = Node::Text;
      expect_block_end();
    } else {
      throw TemplateError(at, "unknown tag '" + kw + "'");
    }
    return n;
  }

  ExprP make(Expr::Kind kind, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  // An expression without a trailing "if ... else" (for-loop iterables, where "if" filters).
  ExprP parse_ternary_free() { return parse_or(); }

  ExprP parse_expression() {
    const DepthGuard guard(depth_, peek().pos);
    ExprP e = parse_or();
    if (is_name("if")) {
      const Pos at = next().pos;
      auto c = make(Expr::Cond, at);
      ExprP cond = parse_or();
      ExprP other;
      if (is_name("else")) {
        ++k_;
        other = parse_expression();
      }
      c->kids.push_back(std::move(e));
      c->kids.push_back(std::move(cond));
      c->kids.push_back(std::move(other));
      return c;
    }
    return e;
  }

  ExprP binary(const std::string& op, ExprP a, ExprP b, Pos at) {
    auto e = make(Expr::Binary, at);
    e->name = op;
    e->kids.push_back(std::move(a));
    e->kids.push_back(std::move(b));
    deepen(*e);
    return e;
  }

  ExprP parse_or() {
    ExprP e = parse_and();
    while (is_name("or")) {
      const Pos at = next().pos;
      e = binary("or", std::move(e), parse_and(), at);
    }
    return e;
  }
  ExprP parse_and() {
    ExprP e = parse_not();
    while (is_name("and")) {
      const Pos at = next().pos;
      e = binary("and", std::move(e), parse_not(), at);
    }
    return e;
  }
  ExprP parse_not() {
    const DepthGuard guard(depth_, peek().pos);
    if (is_name("not")) {
      const Pos at = next().pos;
      auto e = make(Expr::Unary, at);
      e->name = "not";
      e->kids.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprP parse_compare() {
    ExprP e = parse_math1();
    while (true) {
      const Pos at = peek().pos;
      std::string op;
      if (peek().kind == Token::Op && (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
                                       peek().text == "<=" || peek().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        ++k_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        k_ += 2;
        op = "not in";
      } else {
        return e;
      }
      e = binary(op, std::move(e), parse_math1(), at);
    }
  }
  ExprP parse_math1() {
    ExprP e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_concat(), t.pos);
    }
    return e;
  }
  ExprP parse_concat() {
    ExprP e = parse_math2();
    while (is_op("~")) {
      const Pos at = next().pos;
      e = binary("~", std::move(e), parse_math2(), at);
    }
    return e;
  }
  ExprP parse_math2() {
    ExprP e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_pow(), t.pos);
    }
    return e;
  }
  ExprP parse_pow() {
    ExprP e = parse_unary();
    while (is_op("**")) {
      const Pos at = next().pos;
      e = binary("**", std::move(e), parse_unary(), at);
    }
    return e;
  }
  ExprP parse_unary() {
    const DepthGuard guard(depth_, peek().pos);
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      auto e = make(Expr::Unary, t.pos);
      e->name = t.text;
      e->kids.push_back(parse_unary());
      return e;
    }
    ExprP e = parse_postfix(parse_primary());
    return parse_filters(std::move(e));
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Token::Name && is_op("=", 1)) {
        std::string key = next().text;
        ++k_;
        e.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        e.kids.push_back(parse_expression());
      }
      if (is_op(",")) ++k_;
      else if (!is_op(")")) throw TemplateError(peek().pos, "expected ',' or ')'");
    }
    ++k_;
  }

  ExprP parse_filters(ExprP e) {
    while (true) {
      if (is_op("|")) {
        const Pos at = next().pos;
        auto f = make(Expr::Filter, at);
        f->name = expect_name();
        f->kids.push_back(std::move(e));
        if (is_op("(")) parse_call_args(*f);
        deepen(*f);
        e = std::move(f);
      } else if (is_name("is")) {
        const Pos at = next().pos;
        auto t = make(Expr::Test, at);
        if (is_name("not")) {
          ++k_;
          t->negated = true;
        }
        t->name = expect_name();
        t->kids.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if (peek().kind == Token::String || peek().kind == Token::Int || peek().kind == Token::Float ||
                   (peek().kind == Token::Name && peek().text != "and" && peek().text != "or" && peek().text != "else" && peek().text != "if")) {
          t->kids.push_back(parse_primary());  // "is divisibleby 3", "is sameas none"
        }
        deepen(*t);
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  ExprP parse_postfix(ExprP e) {
    while (true) {
      if (is_op(".")) {
        const Pos at = next().pos;
        auto a = make(Expr::Attr, at);
        a->name = peek().kind == Token::Int ? std::to_string(next().i) : expect_name();
        a->kids.push_back(std::move(e));
        deepen(*a);
        e = std::move(a);
      } else if (is_op("[")) {
        const Pos at = next().pos;
        ExprP start, stop, step;
        bool slice = false;
        if (!is_op(":")) start = parse_expression();
        if (is_op(":")) {
          slice = true;
          ++k_;
          if (!is_op("]") && !is_op(":")) stop = parse_expression();
          if (is_op(":")) {
            ++k_;
            if (!is_op("]")) step = parse_expression();
          }
        }
        expect_op("]");
        auto x = make(slice ? Expr::Slice : Expr::Index, at);
        x->kids.push_back(std::move(e));
        x->kids.push_back(std::move(start));
        if (slice) {
          x->kids.push_back(std::move(stop));
          x->kids.push_back(std::move(step));
        }
        deepen(*x);
        e = std::move(x);
      } else if (is_op("(")) {
        auto c = make(Expr::Call, peek().pos);
        c->kids.push_back(std::move(e));
        parse_call_args(*c);
        deepen(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprP parse_primary() {
    const Token& t = next();
    switch (t.kind) {
      case Token::String: {
        auto e = make(Expr::Lit, t.pos);
        std::string s = t.text;
        while (peek().kind == Token::String) s += next().text;  // adjacent literals concatenate
        e->value = Value::str(s);
        return e;
      }
      case Token::Int: { auto e = make(Expr::Lit, t.pos); e->value = Value::integer(t.i); return e; }
      case Token::Float: { auto e = make(Expr::Lit, t.pos); e->value = Value::real(t.f); return e; }
      case Token::Name: {
        auto e = make(Expr::Lit, t.pos);
        if (t.text == "true" || t.text == "True") { e->value = Value::boolean(true); return e; }
        if (t.text == "false" || t.text == "False") { e->value = Value::boolean(false); return e; }
        if (t.text == "none" || t.text == "None") { e->value = Value::none(); return e; }
        e->kind = Expr::Var;
        e->name = t.text;
        return e;
      }
      case Token::Op:
        if (t.text == "(") {
          ExprP first = parse_expression();
          if (is_op(",")) {
            auto tup = make(Expr::TupleLit, t.pos);
            tup->kids.push_back(std::move(first));
            while (is_op(",")) {
              ++k_;
              if (is_op(")")) break;
              tup->kids.push_back(parse_expression());
            }
            expect_op(")");
            return tup;
          }
          expect_op(")");
          return first;
        }
        if (t.text == "[") {
          auto l = make(Expr::ListLit, t.pos);
          while (!is_op("]")) {
            l->kids.push_back(parse_expression());
            if (is_op(",")) ++k_;
            else if (!is_op("]")) throw TemplateError(peek().pos, "expected ',' or ']'");
          }
          ++k_;
          return l;
        }
        if (t.text == "{") {
          auto d = make(Expr::DictLit, t.pos);
          while (!is_op("}")) {
            d->kids.push_back(parse_expression());
            expect_op(":");
            d->kids.push_back(parse_expression());
            if (is_op(",")) ++k_;
            else if (!is_op("}")) throw TemplateError(peek().pos, "expected ',' or '}'");
          }
          ++k_;
          return d;
        }
        break;
      default: break;
    }
    throw TemplateError(t.pos, t.kind == Token::Op ? "unexpected '" + t.text + "'" : "unexpected end of expression");
  }
};

// ---------------------------------------------------------------- evaluator

enum class Flow { Normal, Break, Continue };

std::string py_strip(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  if (right) while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

std::string py_title(const std::string& s, bool only_first) {
  std::string out = s;
  bool start = true;
  for (auto& c : out) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      c = static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      start = false;
    } else if (!only_first) {
      start = true;
    }
  }
  return out;
}

class Evaluator {
 public:
  Evaluator(const nlohmann::ordered_json& context) {
    scopes_.emplace_back();
    for (const auto& [k, v] : context.items()) scopes_.front()[k] = Value::from_json(v);
    install_globals();
  }

  void run(const Body& body) {
    if (exec(body) != Flow::Normal) throw TemplateError({}, "break or continue outside a loop");
  }
  std::string output_;

 private:
  std::vector<std::map<std::string, Value>> scopes_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;

  void step(Pos at) {
    if (++steps_ > kMaxSteps) throw TemplateError(at, "the template runs too long (more than 50 million steps)");
    if (output_.size() > kMaxOutput) throw TemplateError(at, "the template's output passed 64 MiB");
  }

  void install_globals() {
    auto& g = scopes_.front();
    g["raise_exception"] = Value::function([](Args& a, Kwargs&) -> Value {
      throw TemplateError({}, "raise_exception: " + (a.empty() ? std::string() : to_str(a[0])));
    });
    g["namespace"] = Value::function([](Args&, Kwargs& kw) {
      Value v = Value::new_dict();
      v.dict->is_namespace = true;
      for (auto& [k, x] : kw) v.dict->set(k, x);
      return v;
    });
    g["dict"] = Value::function([](Args&, Kwargs& kw) {
      Value v = Value::new_dict();
      for (auto& [k, x] : kw) v.dict->set(k, x);
      return v;
    });
    g["range"] = Value::function([](Args& a, Kwargs&) {
      int64_t start = 0, stop = 0, step = 1;
      if (a.size() == 1) stop = a[0].i;
      if (a.size() >= 2) { start = a[0].i; stop = a[1].i; }
      if (a.size() >= 3) step = a[2].i;
      if (step == 0) throw TemplateError({}, "range() step must not be zero");
      if ((stop - start) / step > kMaxRange) throw TemplateError({}, "range() of more than 10 million items");
      Value v = Value::new_list();
      for (int64_t x = start; step > 0 ? x < stop : x > stop; x += step) v.list->push_back(Value::integer(x));
      return v;
    });
    g["strftime_now"] = Value::function([](Args& a, Kwargs&) {
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, a.empty() ? "%Y-%m-%d" : to_str(a[0]).c_str(), &tm);
      return Value::str(std::string(buf, n));
    });
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (auto f = it->find(name); f != it->end()) return f->second;
    }
    return Value();
  }

  Flow exec(const Body& body) {
    for (const auto& n : body) {
      const Flow f = exec(*n);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  void assign(const Node& n, const Value& v) {
    if (!n.attr.empty()) {
      Value target = lookup(n.text);
      if (!target.is(Value::Kind::Object) || !target.dict->is_namespace) {
        throw TemplateError(n.pos, "cannot assign attribute '" + n.attr + "' of '" + n.text + "': not a namespace()");
      }
      target.dict->set(n.attr, v);
      return;
    }
    if (n.targets.size() > 1) {
      if (!v.is(Value::Kind::Array) || v.list->size() != n.targets.size()) throw TemplateError(n.pos, "cannot unpack the value");
      for (size_t k = 0; k < n.targets.size(); ++k) scopes_.back()[n.targets[k]] = (*v.list)[k];
      return;
    }
    scopes_.back()[n.text] = v;
  }

  Flow exec(const Node& n) {
    step(n.pos);
    switch (n.kind) {
      case Node::Text: output_ += n.text; return Flow::Normal;
      case Node::Output: output_ += to_str(eval(*n.expr)); return Flow::Normal;
      case Node::If:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || eval(*cond).truthy()) return exec(body);
        }
        return Flow::Normal;
      case Node::Set: assign(n, eval(*n.expr)); return Flow::Normal;
      case Node::SetBlock: {
        std::string saved;
        std::swap(saved, output_);
        exec(n.body);
        std::swap(saved, output_);
        assign(n, Value::str(saved));
        return Flow::Normal;
      }
      case Node::Macro: {
        const Node* m = &n;
        scopes_.back()[n.text] = Value::function([this, m](Args& a, Kwargs& kw) { return call_macro(*m, a, kw); });
        return Flow::Normal;
      }
      case Node::Break: return Flow::Break;
      case Node::Continue: return Flow::Continue;
      case Node::For: return exec_for(n);
    }
    return Flow::Normal;
  }

  Value call_macro(const Node& m, Args& a, Kwargs& kw) {
    const DepthGuard guard(call_depth_, m.pos);
    std::string saved;
    std::swap(saved, output_);
    scopes_.emplace_back();
    for (size_t k = 0; k < m.params.size(); ++k) {
      Value v;
      if (k < a.size()) {
        v = a[k];
      } else if (auto it = std::find_if(kw.begin(), kw.end(), [&](const auto& p) { return p.first == m.params[k].first; }); it != kw.end()) {
        v = it->second;
      } else if (m.params[k].second) {
        v = eval(*m.params[k].second);
      }
      scopes_.back()[m.params[k].first] = v;
    }
    exec(m.body);
    scopes_.pop_back();
    std::swap(saved, output_);
    return Value::str(saved);
  }

  static List iterate(const Value& v, Pos pos) {
    switch (v.kind) {
      case Value::Kind::Array: return *v.list;
      case Value::Kind::Object: {
        List keys;
        for (const auto& [k, x] : v.dict->items) keys.push_back(Value::str(k));
        return keys;
      }
      case Value::Kind::Str: {
        List chars;
        for (char c : v.s) chars.push_back(Value::str(std::string(1, c)));
        return chars;
      }
      case Value::Kind::Undefined: case Value::Kind::None: return {};
      default: throw TemplateError(pos, "'" + to_str(v) + "' is not iterable");
    }
  }

  Flow exec_for(const Node& n) {
    const List all = iterate(eval(*n.expr), n.pos);
    List items;
    scopes_.emplace_back();
    for (const auto& x : all) {
      if (n.filter) {
        bind_targets(n, x);
        if (!eval(*n.filter).truthy()) continue;
      }
      items.push_back(x);
    }
    scopes_.pop_back();
    if (items.empty()) return exec(n.else_body);
    for (size_t k = 0; k < items.size(); ++k) {
      scopes_.emplace_back();
      bind_targets(n, items[k]);
      Value loop = Value::new_dict();
      auto& d = *loop.dict;
      const int64_t len = static_cast<int64_t>(items.size()), i = static_cast<int64_t>(k);
      d.set("index0", Value::integer(i));
      d.set("index", Value::integer(i + 1));
      d.set("revindex0", Value::integer(len - i - 1));
      d.set("revindex", Value::integer(len - i));
      d.set("first", Value::boolean(k == 0));
      d.set("last", Value::boolean(k + 1 == items.size()));
      d.set("length", Value::integer(len));
      d.set("previtem", k > 0 ? items[k - 1] : Value());
      d.set("nextitem", k + 1 < items.size() ? items[k + 1] : Value());
      scopes_.back()["loop"] = loop;
      const Flow f = exec(n.body);
      scopes_.pop_back();
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  void bind_targets(const Node& n, const Value& x) {
    if (n.targets.size() == 1) {
      scopes_.back()[n.targets[0]] = x;
      return;
    }
    if (!x.is(Value::Kind::Array) || x.list->size() != n.targets.size()) throw TemplateError(n.pos, "cannot unpack a loop item");
    for (size_t k = 0; k < n.targets.size(); ++k) scopes_.back()[n.targets[k]] = (*x.list)[k];
  }

  // ------------------------------------------------------------ expressions

  Value eval(const Expr& e) {
    step(e.pos);
    switch (e.kind) {
      case Expr::Lit: return e.value;
      case Expr::Var: return lookup(e.name);
      case Expr::Attr: return attribute(eval(*e.kids[0]), e.name, e.pos);
      case Expr::Index: return index(eval(*e.kids[0]), eval(*e.kids[1]), e.pos);
      case Expr::Slice: return slice(e);
      case Expr::Call: return call(e);
      case Expr::Filter: return filter(e);
      case Expr::Test: {
        const bool r = test(e);
        return Value::boolean(e.negated ? !r : r);
      }
      case Expr::Unary: {
        const Value v = eval(*e.kids[0]);
        if (e.name == "not") return Value::boolean(!v.truthy());
        if (!v.numeric()) throw TemplateError(e.pos, "unary " + e.name + " on a non-number");
        if (e.name == "+") return v;
        return v.is(Value::Kind::Float) ? Value::real(-v.f) : Value::integer(-static_cast<int64_t>(v.number()));
      }
      case Expr::Binary: return binary(e);
      case Expr::Cond:
        if (eval(*e.kids[1]).truthy()) return eval(*e.kids[0]);
        return e.kids[2] ? eval(*e.kids[2]) : Value();
      case Expr::ListLit: case Expr::TupleLit: {
        Value v = Value::new_list();
        for (const auto& k : e.kids) v.list->push_back(eval(*k));
        return v;
      }
      case Expr::DictLit: {
        Value v = Value::new_dict();
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) v.dict->set(to_str(eval(*e.kids[k])), eval(*e.kids[k + 1]));
        return v;
      }
    }
    return Value();
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.kids[0]);
      return a.truthy() ? eval(*e.kids[1]) : a;
    }
    if (op == "or") {
      Value a = eval(*e.kids[0]);
      return a.truthy() ? a : eval(*e.kids[1]);
    }
    const Value a = eval(*e.kids[0]), b = eval(*e.kids[1]);
    if (op == "~") return Value::str(to_str(a) + to_str(b));
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "in" || op == "not in") {
      bool in = false;
      if (b.is(Value::Kind::Str)) {
        in = a.is(Value::Kind::Str) && b.s.find(a.s) != std::string::npos;
      } else if (b.is(Value::Kind::Array)) {
        in = std::any_of(b.list->begin(), b.list->end(), [&](const Value& x) { return equal(x, a); });
      } else if (b.is(Value::Kind::Object)) {
        in = b.dict->find(to_str(a)) != nullptr;
      } else if (b.defined() && !b.is(Value::Kind::None)) {
        throw TemplateError(e.pos, "'in' needs a string, list or dict on the right");
      }
      return Value::boolean(op == "in" ? in : !in);
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (a.numeric() && b.numeric()) {
        c = a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
      } else if (a.is(Value::Kind::Str) && b.is(Value::Kind::Str)) {
        c = a.s.compare(b.s) < 0 ? -1 : a.s.compare(b.s) > 0 ? 1 : 0;
      } else {
        throw TemplateError(e.pos, "cannot compare " + to_repr(a) + " and " + to_repr(b));
      }
      return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    if (op == "+") {
      if (a.is(Value::Kind::Str) && b.is(Value::Kind::Str)) return Value::str(a.s + b.s);
      if (a.is(Value::Kind::Array) && b.is(Value::Kind::Array)) {
        List all = *a.list;
        all.insert(all.end(), b.list->begin(), b.list->end());
        return Value::new_list(std::move(all));
      }
    }
    if (!a.numeric() || !b.numeric()) {
      if (op == "*" && a.is(Value::Kind::Str) && b.is(Value::Kind::Int)) {
        if (b.i > 0 && a.s.size() * static_cast<uint64_t>(b.i) > kMaxOutput) throw TemplateError(e.pos, "string repetition past 64 MiB");
        std::string s;
        for (int64_t k = 0; k < b.i; ++k) s += a.s;
        return Value::str(s);
      }
      if (op == "%" && a.is(Value::Kind::Str)) throw TemplateError(e.pos, "string % formatting is not supported");
      throw TemplateError(e.pos, "cannot apply '" + op + "' to " + (a.defined() ? to_repr(a) : "an undefined value") + " and " +
                                     (b.defined() ? to_repr(b) : "an undefined value"));
    }
    const bool ints = !a.is(Value::Kind::Float) && !b.is(Value::Kind::Float);
    const double x = a.number(), y = b.number();
    if (op == "+") return ints ? Value::integer(static_cast<int64_t>(x) + static_cast<int64_t>(y)) : Value::real(x + y);
    if (op == "-") return ints ? Value::integer(static_cast<int64_t>(x) - static_cast<int64_t>(y)) : Value::real(x - y);
    if (op == "*") return ints ? Value::integer(static_cast<int64_t>(x) * static_cast<int64_t>(y)) : Value::real(x * y);
    if (op == "**") return ints && y >= 0 ? Value::integer(static_cast<int64_t>(std::pow(x, y))) : Value::real(std::pow(x, y));
    if (y == 0) throw TemplateError(e.pos, "division by zero");
    if (op == "/") return Value::real(x / y);
    if (op == "//") return ints ? Value::integer(static_cast<int64_t>(std::floor(x / y))) : Value::real(std::floor(x / y));
    if (op == "%") {
      if (ints) {
        const int64_t m = static_cast<int64_t>(x) % static_cast<int64_t>(y);
        return Value::integer(m != 0 && ((m < 0) != (y < 0)) ? m + static_cast<int64_t>(y) : m);
      }
      return Value::real(x - y * std::floor(x / y));
    }
    throw TemplateError(e.pos, "unknown operator " + op);
  }

  Value index(const Value& v, const Value& k, Pos pos) {
    if (v.is(Value::Kind::Object)) {
      const Value* x = v.dict->find(to_str(k));
      return x ? *x : Value();
    }
    if ((v.is(Value::Kind::Array) || v.is(Value::Kind::Str)) && k.is(Value::Kind::Int)) {
      const int64_t n = v.is(Value::Kind::Array) ? static_cast<int64_t>(v.list->size()) : static_cast<int64_t>(v.s.size());
      const int64_t i = k.i < 0 ? k.i + n : k.i;
      if (i < 0 || i >= n) return Value();
      return v.is(Value::Kind::Array) ? (*v.list)[static_cast<size_t>(i)] : Value::str(std::string(1, v.s[static_cast<size_t>(i)]));
    }
    if (k.is(Value::Kind::Str)) return attribute(v, k.s, pos);
    return Value();
  }

  Value slice(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    const int64_t n = v.is(Value::Kind::Array) ? static_cast<int64_t>(v.list->size()) : v.is(Value::Kind::Str) ? static_cast<int64_t>(v.s.size()) : -1;
    if (n < 0) throw TemplateError(e.pos, "only lists and strings can be sliced");
    const int64_t step = e.kids[3] ? eval(*e.kids[3]).i : 1;
    if (step == 0) throw TemplateError(e.pos, "slice step cannot be zero");
    auto bound = [&](const ExprP& x, int64_t fallback) {
      if (!x) return fallback;
      int64_t i = eval(*x).i;
      if (i < 0) i += n;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t start = bound(e.kids[1], step > 0 ? 0 : n - 1), stop = bound(e.kids[2], step > 0 ? n : -1);
    List items;
    std::string s;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (v.is(Value::Kind::Array)) items.push_back((*v.list)[static_cast<size_t>(i)]);
      else s += v.s[static_cast<size_t>(i)];
    }
    return v.is(Value::Kind::Array) ? Value::new_list(std::move(items)) : Value::str(s);
  }

  static std::string arg_str(const Args& a, size_t k, const std::string& fallback) { return k < a.size() ? to_str(a[k]) : fallback; }

  Value attribute(const Value& v, const std::string& name, Pos pos) {
    if (v.is(Value::Kind::Object)) {
      if (const Value* x = v.dict->find(name)) return *x;
      if (v.dict->is_namespace) return Value();
      auto d = v.dict;
      if (name == "items") return Value::function([d](Args&, Kwargs&) {
        Value out = Value::new_list();
        for (const auto& [k, x] : d->items) out.list->push_back(Value::new_list({Value::str(k), x}));
        return out;
      });
      if (name == "keys") return Value::function([d](Args&, Kwargs&) {
        Value out = Value::new_list();
        for (const auto& [k, x] : d->items) out.list->push_back(Value::str(k));
        return out;
      });
      if (name == "values") return Value::function([d](Args&, Kwargs&) {
        Value out = Value::new_list();
        for (const auto& [k, x] : d->items) out.list->push_back(x);
        return out;
      });
      if (name == "get") return Value::function([d](Args& a, Kwargs&) {
        const Value* x = a.empty() ? nullptr : d->find(to_str(a[0]));
        return x ? *x : a.size() > 1 ? a[1] : Value::none();
      });
      return Value();
    }
    if (v.is(Value::Kind::Str)) {
      const std::string s = v.s;
      auto fn = [&](std::function<Value(Args&)> f) { return Value::function([f](Args& a, Kwargs&) { return f(a); }); };
      if (name == "strip") return fn([s](Args& a) { return Value::str(py_strip(s, arg_str(a, 0, " \t\n\r\f\v"), true, true)); });
      if (name == "lstrip") return fn([s](Args& a) { return Value::str(py_strip(s, arg_str(a, 0, " \t\n\r\f\v"), true, false)); });
      if (name == "rstrip") return fn([s](Args& a) { return Value::str(py_strip(s, arg_str(a, 0, " \t\n\r\f\v"), false, true)); });
      if (name == "upper" || name == "lower") {
        return fn([s, up = name == "upper"](Args&) {
          std::string o = s;
          for (auto& c : o) c = static_cast<char>(up ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
          return Value::str(o);
        });
      }
      if (name == "title") return fn([s](Args&) { return Value::str(py_title(s, false)); });
      if (name == "capitalize") return fn([s](Args&) { return Value::str(py_title(s, true)); });
      if (name == "startswith" || name == "endswith") {
        return fn([s, start = name == "startswith"](Args& a) {
          List opts = a.empty() ? List{} : a[0].is(Value::Kind::Array) ? *a[0].list : List{a[0]};
          for (const auto& o : opts) {
            const std::string p = to_str(o);
            if (start ? s.starts_with(p) : s.ends_with(p)) return Value::boolean(true);
          }
          return Value::boolean(false);
        });
      }
      if (name == "split") {
        return fn([s](Args& a) {
          Value out = Value::new_list();
          const int64_t max = a.size() > 1 ? a[1].i : -1;
          if (a.empty() || a[0].is(Value::Kind::None)) {
            size_t p = 0;
            int64_t n = 0;
            while (p < s.size()) {
              while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
              if (p >= s.size()) break;
              size_t e = p;
              if (max >= 0 && n == max) {
                e = s.size();
              } else {
                while (e < s.size() && !std::isspace(static_cast<unsigned char>(s[e]))) ++e;
              }
              out.list->push_back(Value::str(py_strip(s.substr(p, e - p), " \t\n\r\f\v", false, true)));
              ++n;
              p = e;
            }
            return out;
          }
          const std::string sep = to_str(a[0]);
          if (sep.empty()) throw TemplateError({}, "split(): empty separator");
          size_t p = 0;
          int64_t n = 0;
          for (size_t at = s.find(sep); at != std::string::npos && (max < 0 || n < max); at = s.find(sep, p)) {
            out.list->push_back(Value::str(s.substr(p, at - p)));
            p = at + sep.size();
            ++n;
          }
          out.list->push_back(Value::str(s.substr(p)));
          return out;
        });
      }
      if (name == "replace") {
        return fn([s](Args& a) {
          const std::string from = arg_str(a, 0, ""), to = arg_str(a, 1, "");
          int64_t count = a.size() > 2 ? a[2].i : -1;
          if (from.empty()) return Value::str(s);
          std::string o;
          size_t p = 0;
          for (size_t at = s.find(from); at != std::string::npos && count != 0; at = s.find(from, p), --count) {
            o += s.substr(p, at - p) + to;
            p = at + from.size();
          }
          return Value::str(o + s.substr(p));
        });
      }
      if (name == "find") return fn([s](Args& a) { const size_t at = s.find(arg_str(a, 0, "")); return Value::integer(at == std::string::npos ? -1 : static_cast<int64_t>(at)); });
      if (name == "join") {
        return fn([s](Args& a) {
          std::string o;
          const List items = a.empty() ? List{} : iterate(a[0], {});
          for (size_t k = 0; k < items.size(); ++k) o += (k ? s : "") + to_str(items[k]);
          return Value::str(o);
        });
      }
      return Value();
    }
    if (v.is(Value::Kind::Array)) {
      auto l = v.list;
      if (name == "append") return Value::function([l](Args& a, Kwargs&) { if (!a.empty()) l->push_back(a[0]); return Value::none(); });
      if (name == "pop") return Value::function([l, pos](Args& a, Kwargs&) {
        if (l->empty()) throw TemplateError(pos, "pop from an empty list");
        int64_t i = a.empty() ? static_cast<int64_t>(l->size()) - 1 : a[0].i;
        if (i < 0) i += static_cast<int64_t>(l->size());
        Value x = (*l)[static_cast<size_t>(i)];
        l->erase(l->begin() + i);
        return x;
      });
      return Value();
    }
    return Value();
  }

  Value call(const Expr& e) {
    const Value callee = eval(*e.kids[0]);
    if (!callee.is(Value::Kind::Callable)) {
      const std::string what = e.kids[0]->kind == Expr::Var || e.kids[0]->kind == Expr::Attr ? "'" + e.kids[0]->name + "'" : "this value";
      throw TemplateError(e.pos, what + " is not callable (undefined or unsupported)");
    }
    Args args;
    for (size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k]));
    Kwargs kwargs;
    for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
    try {
      return (*callee.fn)(args, kwargs);
    } catch (TemplateError& err) {
      if (err.pos.line == 1 && err.pos.col == 1) err.pos = e.pos;
      throw;
    }
  }

  const Value* kwarg(const Kwargs& kw, const std::string& name) {
    for (const auto& [k, v] : kw) {
      if (k == name) return &v;
    }
    return nullptr;
  }

  Value filter(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    Args a;
    for (size_t k = 1; k < e.kids.size(); ++k) a.push_back(eval(*e.kids[k]));
    Kwargs kw;
    for (const auto& [k, x] : e.kwargs) kw.emplace_back(k, eval(*x));
    const std::string& f = e.name;
    if (f == "trim") return Value::str(py_strip(to_str(v), a.empty() ? " \t\n\r\f\v" : to_str(a[0]), true, true));
    if (f == "upper" || f == "lower") {
      std::string s = to_str(v);
      for (auto& c : s) c = static_cast<char>(f == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      return Value::str(s);
    }
    if (f == "capitalize") return Value::str(py_title(to_str(v), true));
    if (f == "title") return Value::str(py_title(to_str(v), false));
    if (f == "length" || f == "count") {
      if (v.is(Value::Kind::Str)) return Value::integer(static_cast<int64_t>(v.s.size()));
      if (v.is(Value::Kind::Array)) return Value::integer(static_cast<int64_t>(v.list->size()));
      if (v.is(Value::Kind::Object)) return Value::integer(static_cast<int64_t>(v.dict->items.size()));
      if (!v.defined() || v.is(Value::Kind::None)) return Value::integer(0);
      throw TemplateError(e.pos, "length of a value that has none");
    }
    if (f == "string") return Value::str(to_str(v));
    if (f == "safe" || f == "e" || f == "escape") return f == "safe" ? v : Value::str(to_str(v));
    if (f == "int") return Value::integer(v.numeric() ? static_cast<int64_t>(v.number()) : v.is(Value::Kind::Str) ? std::atoll(v.s.c_str()) : 0);
    if (f == "float") return Value::real(v.numeric() ? v.number() : v.is(Value::Kind::Str) ? std::atof(v.s.c_str()) : 0.0);
    if (f == "abs") return v.is(Value::Kind::Float) ? Value::real(std::fabs(v.f)) : Value::integer(std::llabs(static_cast<int64_t>(v.number())));
    if (f == "default" || f == "d") {
      const bool boolean = (a.size() > 1 && a[1].truthy()) || (kwarg(kw, "boolean") && kwarg(kw, "boolean")->truthy());
      if (!v.defined() || (boolean && !v.truthy())) return a.empty() ? Value::str("") : a[0];
      return v;
    }
    if (f == "join") {
      const List items = iterate(v, e.pos);
      const std::string sep = a.empty() ? "" : to_str(a[0]);
      const Value* attr = kwarg(kw, "attribute");
      std::string s;
      for (size_t k = 0; k < items.size(); ++k) s += (k ? sep : "") + to_str(attr ? attribute(items[k], to_str(*attr), e.pos) : items[k]);
      return Value::str(s);
    }
    if (f == "list") return Value::new_list(iterate(v, e.pos));
    if (f == "first" || f == "last") {
      const List items = iterate(v, e.pos);
      return items.empty() ? Value() : f == "first" ? items.front() : items.back();
    }
    if (f == "reverse") {
      if (v.is(Value::Kind::Str)) return Value::str(std::string(v.s.rbegin(), v.s.rend()));
      List items = iterate(v, e.pos);
      std::reverse(items.begin(), items.end());
      return Value::new_list(std::move(items));
    }
    if (f == "items") {
      const Value items = attribute(v, "items", e.pos);
      return items.fn ? (*items.fn)(a, kw) : Value::new_list();
    }
    if (f == "replace") return (*attribute(Value::str(to_str(v)), "replace", e.pos).fn)(a, kw);
    if (f == "tojson") {
      const Value* ind = kwarg(kw, "indent");
      const int indent = ind ? static_cast<int>(ind->i) : a.empty() ? -1 : static_cast<int>(a[0].i);
      return Value::str(to_json(v, indent));
    }
    if (f == "map") {
      List out;
      const Value* attr = kwarg(kw, "attribute");
      for (const auto& x : iterate(v, e.pos)) {
        if (attr) {
          out.push_back(attribute(x, to_str(*attr), e.pos));
        } else if (!a.empty()) {
          auto fe = make_filter_call(to_str(a[0]), x, Args(a.begin() + 1, a.end()));
          out.push_back(fe);
        }
      }
      return Value::new_list(std::move(out));
    }
    if (f == "selectattr" || f == "rejectattr" || f == "select" || f == "reject") {
      const bool attr_form = f.ends_with("attr");
      const bool keep_true = f == "selectattr" || f == "select";
      List out;
      for (const auto& x : iterate(v, e.pos)) {
        const Value subject = attr_form ? attribute(x, a.empty() ? "" : to_str(a[0]), e.pos) : x;
        const size_t test_at = attr_form ? 1 : 0;
        bool r;
        if (a.size() > test_at) {
          r = run_test(to_str(a[test_at]), subject, Args(a.begin() + static_cast<long>(test_at) + 1, a.end()), e.pos);
        } else {
          r = subject.truthy();
        }
        if (r == keep_true) out.push_back(x);
      }
      return Value::new_list(std::move(out));
    }
    if (f == "unique") {
      List out;
      for (const auto& x : iterate(v, e.pos)) {
        if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return equal(x, y); })) out.push_back(x);
      }
      return Value::new_list(std::move(out));
    }
    throw TemplateError(e.pos, "unknown filter '" + f + "'");
  }

  Value make_filter_call(const std::string& name, const Value& v, Args a) {
    Expr fake;
    fake.kind = Expr::Filter;
    fake.name = name;
    auto lit = std::make_unique<Expr>();
    lit->kind = Expr::Lit;
    lit->value = v;
    fake.kids.push_back(std::move(lit));
    for (auto& x : a) {
      auto l = std::make_unique<Expr>();
      l->kind = Expr::Lit;
      l->value = x;
      fake.kids.push_back(std::move(l));
    }
    return filter(fake);
  }

  bool run_test(const std::string& t, const Value& v, const Args& a, Pos pos) {
    if (t == "defined") return v.defined();
    if (t == "undefined") return !v.defined();
    if (t == "none") return v.is(Value::Kind::None);
    if (t == "boolean") return v.is(Value::Kind::Bool);
    if (t == "true") return v.is(Value::Kind::Bool) && v.b;
    if (t == "false") return v.is(Value::Kind::Bool) && !v.b;
    if (t == "integer") return v.is(Value::Kind::Int);
    if (t == "float") return v.is(Value::Kind::Float);
    if (t == "number") return v.is(Value::Kind::Int) || v.is(Value::Kind::Float);
    if (t == "string") return v.is(Value::Kind::Str);
    if (t == "mapping") return v.is(Value::Kind::Object);
    if (t == "sequence" || t == "iterable") return v.is(Value::Kind::Array) || v.is(Value::Kind::Str) || v.is(Value::Kind::Object);
    if (t == "callable") return v.is(Value::Kind::Callable);
    if (t == "odd" || t == "even") return v.is(Value::Kind::Int) && ((v.i % 2 != 0) == (t == "odd"));
    if (t == "divisibleby") return !a.empty() && a[0].i != 0 && v.is(Value::Kind::Int) && v.i % a[0].i == 0;
    if (t == "eq" || t == "equalto" || t == "==" || t == "sameas") return !a.empty() && equal(v, a[0]);
    if (t == "ne" || t == "!=") return a.empty() || !equal(v, a[0]);
    if (t == "in") return !a.empty() && (a[0].is(Value::Kind::Array) ? std::any_of(a[0].list->begin(), a[0].list->end(), [&](const Value& x) { return equal(x, v); })
                                                                      : a[0].is(Value::Kind::Str) && v.is(Value::Kind::Str) && a[0].s.find(v.s) != std::string::npos);
    if (t == "lower" || t == "upper") {
      if (!v.is(Value::Kind::Str)) return false;
      return std::none_of(v.s.begin(), v.s.end(), [&](char c) { return t == "lower" ? std::isupper(static_cast<unsigned char>(c)) : std::islower(static_cast<unsigned char>(c)); });
    }
    if (t == "lt" || t == "gt" || t == "le" || t == "ge") {
      if (a.empty() || !v.numeric() || !a[0].numeric()) return false;
      const double x = v.number(), y = a[0].number();
      return t == "lt" ? x < y : t == "gt" ? x > y : t == "le" ? x <= y : x >= y;
    }
    throw TemplateError(pos, "unknown test '" + t + "'");
  }

  bool test(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    Args a;
    for (size_t k = 1; k < e.kids.size(); ++k) a.push_back(eval(*e.kids[k]));
    return run_test(e.name, v, a, e.pos);
  }
};

}  // namespace

std::string render_jinja(const std::string& source, const nlohmann::ordered_json& context, const std::string& origin) {
  try {
    Parser parser(Lexer(source).run());
    const Body body = parser.parse_template();
    Evaluator ev(context);
    ev.run(body);
    return ev.output_;
  } catch (const TemplateError& e) {
    throw Error(ErrorCode::BadJson, origin, Error::kNoOffset, fmt::format("chat_template line {} column {}", e.pos.line, e.pos.col), e.what());
  } catch (const std::length_error& e) {
    throw Error(ErrorCode::TooLarge, origin, Error::kNoOffset, "chat_template", std::string("a value grew too large: ") + e.what());
  }
}

std::string render_chat_prompt(const TokenizerMeta& vocab, const std::string& source, nlohmann::ordered_json context,
                               const std::string& origin, bool strip_bos) {
  auto token_text = [&](std::optional<uint32_t> id) { return id && *id < vocab.tokens.size() ? vocab.tokens[*id] : std::string(); };
  const std::string bos = token_text(vocab.bos_id);
  context["bos_token"] = bos;
  context["eos_token"] = token_text(vocab.eos_id);
  std::string prompt = render_jinja(source, context, origin);
  if (strip_bos && !bos.empty() && prompt.starts_with(bos)) prompt.erase(0, bos.size());
  return prompt;
}

}  // namespace ckpt::runtime
