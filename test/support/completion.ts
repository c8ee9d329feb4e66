/**
 * Runs the bash completion the package ships as bash-completion would: the two helpers it uses from
 * bash-completion, reduced to what it needs of them, then COMP_WORDS and COMP_CWORD set and _ec2net called.
 */

/**
 * The bash program that sources `file` and prints, one per line, what it offers for the words given as its
 * arguments (the last being the word under the cursor): `bash -c PROGRAM bash WORD...`.
 */
export function completionProgram(file: string): string {
  return [
    '_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${words[cword]}; prev=${words[cword-1]}; }',
    '_filedir() { :; }',
    `source ${JSON.stringify(file)}`,
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ec2net; printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
}

/** The offers in the program's output. */
export function offers(stdout: string): string[] {
  return stdout.split('\n').filter(Boolean);
}
