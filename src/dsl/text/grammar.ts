/**
 * The grammar of the text language, in Ohm's notation.
 *
 * It lives in a TypeScript string rather than a `.ohm` file so that the compiled package needs no
 * file system access and no asset copying: `tsc` emits it into `dist/` with the parser, and the
 * parser loads in Node and in browsers (and through bundlers) alike.
 *
 * The language, by example (each line builds what the TypeScript DSL call beside it builds):
 *
 *     program attention<T = f32>(B, H, N, M, D) {   # dtype parameters, then size symbols
 *       input Q: T[b: B, h: H, i: N, d: D]          # p.input('Q', T, { b: B, ... })
 *       ...                                         # K and V likewise
 *       s = dot[d](Q, K) * rsqrt(T(D))              # a name for a value (a TypeScript const)
 *       let P = softmax[j](s)                       # p.let('P', ...): a named intermediate
 *       output O[b, h, i, e] = dot[j](P, V)         # p.output('O', ..., ['b', 'h', 'i', 'e'])
 *     }
 *
 *   sizes          integers and size names with + - * / % ( ) min max; / floors
 *   dynamic sizes  `program decode(B, H, D, M <= 8192)`: M is dynamic with bound 8192
 *                  (p.dynamicSize('M', { max: 8192 })): compiled once, given at each run
 *   operators      + - * / %, unary -, < <= > >= == != (precedence as in maths; no chains)
 *   functions      exp log sqrt rsqrt tanh erf sigmoid abs floor ceil sin cos recip neg,
 *                  pow(a, b) max(a, b) min(a, b), where(c, a, b) = select(c, a, b)
 *   casts          f32(x) ... i4(x), or T(x) for a dtype parameter; f32(D) is the size D as a value
 *   reductions     sum[j](x) max[j](x) min[j](x) mean[j, k](x)
 *   composites     softmax[j](x) logsoftmax[j](x) layernorm[j](x, gamma?, beta?, eps = 1e-5)
 *                  rmsnorm[j](x, weight?, eps = 1e-6) gelu(x) gelu_tanh(x) silu(x) dot[k](a, b)
 *   views          x[j = 2:10] slice, x[j = 0] at, x[j -> k] rename (several at once swap),
 *                  x[j, i] permute, x[b: B] broadcast, x[k -> (kg: K / G, ki: G)] split,
 *                  x[(kg, ki) -> k] merge; entries apply left to right: x[i = 0, j = 1:]
 *   iota           index(j, D) (i32), index(j, D, f32)
 *   numbers        1 2.5 .5 1e-5 inf nan; they and sizes take the dtype of the tensor they meet
 *   comments       # to the end of the line; `;` may end a statement
 *
 * A custom stateful reduction (p.fold) or prefix scan (p.scan) is a block:
 *
 *     fold over j: M {                              # scan over t: T { ... } for a scan
 *       state m: f32 = -inf                         # state fields: name, own axes, dtype, init
 *       state acc[e: D]: f32 = 0
 *       step {                                      # one step, from the state before it:
 *         x = dot[d](Q, K) * scale                  #   a local (per-step value, computed once)
 *         m <- max(m, x)                            #   a field's next value
 *         acc <- ...
 *       }
 *       merge {                                     # combine the state over a prefix (m, acc)
 *         mx = max(m, m')                           #   with the state over the steps after it
 *         m <- mx                                   #   (m', acc'); names here are plain aliases
 *         acc <- ...
 *       }
 *       output O = acc / l                          # results: output (a program output) or
 *       let lse = m + log(l)                        # let (an intermediate), named tensors after it
 *     }
 *
 * Upper-case rules are syntactic (spaces, newlines and comments are skipped between their tokens);
 * lower-case rules are lexical. Statements need no separator: each starts with a keyword or
 * `name =`. Function names are resolved when the program is built, not here, so an unknown
 * function is reported by name rather than as a syntax error.
 */
export const GRAMMAR_SOURCE = String.raw`
Tilecraft {
  File = Program*

  Program = kw<"program"> ident TypeParams? "(" ListOf<SizeParam, ","> ")" "{" Stmt* "}"
  SizeParam = ident ("<=" number)?
  TypeParams = "<" NonemptyListOf<TypeParam, ","> ">"
  TypeParam = ident ("=" ident)?

  Stmt = (Input | Let | Output | Fold | Bind) ";"?
  Input = kw<"input"> ident ":" TensorType
  TensorType = ident AxisDecls?
  AxisDecls = "[" ListOf<SizedAxis, ","> "]"
  SizedAxis = ident ":" Expr
  Let = kw<"let"> ident Order? "=" Expr
  Output = kw<"output"> ident Order? "=" Expr
  Bind = ident "=" Expr
  Order = "[" ListOf<ident, ","> "]"

  Fold = foldKind kw<"over"> NonemptyListOf<SizedAxis, ","> "{" FoldItem* "}"
  FoldItem = (State | FoldBlock | Let | Output) ";"?
  State = kw<"state"> ident AxisDecls? ":" ident "=" Expr
  FoldBlock = blockKind "{" BlockItem* "}"
  BlockItem = (Assign | Bind) ";"?
  Assign = ident "<-" Expr

  Expr = Sum cmpOp Sum  -- compare
       | Sum
  Sum = Sum sumOp Product  -- binary
      | Product
  Product = Product productOp Unary  -- binary
          | Unary
  Unary = "-" Unary  -- neg
        | Postfix
  Postfix = Postfix View  -- view
          | Primary
  View = "[" NonemptyListOf<ViewEntry, ","> "]"
  ViewEntry = "(" NonemptyListOf<ident, ","> ")" "->" ident  -- merge
            | ident "->" "(" NonemptyListOf<SizedAxis, ","> ")"  -- split
            | ident "->" ident  -- rename
            | ident "=" Expr? ":" Expr?  -- slice
            | ident "=" Expr  -- at
            | ident ":" Expr  -- broadcast
            | ident  -- axis
  Primary = Call
          | "(" Expr ")"  -- paren
          | number
          | otherState  -- other
          | ident  -- name
  Call = ident Axes? "(" ListOf<Arg, ","> ")"
  Axes = "[" NonemptyListOf<ident, ","> "]"
  Arg = ident "=" ~"=" Expr  -- named
      | Expr  -- positional

  cmpOp (a comparison) = "<=" | ">=" | "==" | "!=" | "<" | ">"
  sumOp = "+" | "-"
  productOp = "*" | "/" | "%"

  number (a number) = kw<"inf">  -- inf
                    | kw<"nan">  -- nan
                    | digit+ ("." digit+)? exponent?  -- decimal
                    | "." digit+ exponent?  -- fraction
  exponent = ("e" | "E") ("+" | "-")? digit+

  ident (a name) = ~keyword idStart idChar*
  idStart = "a".."z" | "A".."Z"
  idChar = idStart | "0".."9" | "_"
  keyword = ("program" | "input" | "let" | "output" | "inf" | "nan") ~idChar
  kw<word> = word ~idChar
  foldKind = kw<"fold"> | kw<"scan">
  blockKind = kw<"step"> | kw<"merge">
  otherState = ident "'"

  space += comment
  comment = "#" (~"\n" any)*
}
`;
