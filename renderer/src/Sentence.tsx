import { splitCode } from './problem.js'

/** A sentence whose `backticked` parts show as code. */
export function Sentence({ text }: { text: string }) {
  return (
    <>
      {splitCode(text).map((p, i) => (p.code ? <code key={i}>{p.text}</code> : <span key={i}>{p.text}</span>))}
    </>
  )
}
