#compdef cevr

_cevr_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _CEVR_COMPLETE=complete_zsh cevr)
}

compdef _cevr_completion cevr

