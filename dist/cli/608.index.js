export const id = 608;
export const ids = [608];
export const modules = {

/***/ 5608:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   terminalAsk: () => (/* binding */ terminalAsk)
/* harmony export */ });
/* unused harmony export askOn */
/* harmony import */ var node_readline_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6848);
/* harmony import */ var node_readline_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_readline_promises__WEBPACK_IMPORTED_MODULE_0__);
// The terminal side of init's questions, for the CLI: a question with its default in brackets, answered on one
// line. Only when both ends are terminals; a pipe or CI gets no questions (init then takes flags and defaults).

/** ask on this input and output; an empty answer takes the default */
function askOn(input, output) {
    return async (question, defaultAnswer) => {
        const rl = (0,node_readline_promises__WEBPACK_IMPORTED_MODULE_0__.createInterface)({ input, output, terminal: false });
        try {
            const shown = defaultAnswer ? `${question} [${defaultAnswer}]: ` : `${question}: `;
            const answer = (await rl.question(shown)).trim();
            return answer === '' ? (defaultAnswer ?? '') : answer;
        }
        finally {
            rl.close();
        }
    };
}
/** askOn(stdin, stderr) when someone is at a terminal, else undefined (stdout stays init's report) */
function terminalAsk() {
    return process.stdin.isTTY && process.stderr.isTTY ? askOn(process.stdin, process.stderr) : undefined;
}


/***/ })

};
