package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DecodeTokens decodes a whole tabular result (the payload of one reply
// message) into tokens, including row values. A DATACLASSIFICATION token
// is accepted after a FEATUREEXTACK acknowledging the feature in the same
// stream (its body is kept in Raw). tdsVersion selects the layout
// (0: the latest). Byte slices in the tokens (ENVCHANGE values, feature
// data, session state, Raw) retain b. It is meant for tests, tools and the
// simulator; the proxy streams responses through a Walker instead.
func DecodeTokens(b []byte, tdsVersion uint32) ([]Token, error) {
	var toks []Token
	var cols []Column
	var dcVersion uint8
	off := 0
	for off < len(b) {
		tok := Token{Type: TokenType(b[off])}
		body := b[off+1:]
		var n int
		var err error
		switch tok.Type {
		case TokenRow, TokenNBCRow:
			if cols == nil {
				err = formatErr(tok.Type.String(), "", "row without COLMETADATA")
				break
			}
			tok.Row, n, err = decodeRow(body, cols, tok.Type == TokenNBCRow, nil)
		case TokenReturnValue:
			var h int
			tok.ReturnValue, h, err = decodeReturnValueHeader(body, tdsVersion)
			if err == nil {
				tok.ReturnValue.Value, n, err = decodeValue(tok.ReturnValue.Type, body[h:], ctxRow)
				n += h
			}
		default:
			n, err = decodeTokenBody(&tok, body, tdsVersion, nil, dcVersion)
			if err == nil && tok.Type == TokenColMetadata && tok.Columns != nil {
				cols = tok.Columns
			}
			if err == nil && tok.Type == TokenFeatureExtAck {
				dcVersion = dataClassificationVersion(tok.FeatureExtAck)
			}
		}
		if err != nil {
			return toks, fmt.Errorf("decoding %s token at offset %d: %w", tok.Type, off, err)
		}
		toks = append(toks, tok)
		off += 1 + n
	}
	return toks, nil
}

// decodeTokenBody decodes the body (after the type byte) of every token but
// ROW, NBCROW and RETURNVALUE into tok. colBuf is reused for COLMETADATA;
// dcVersion is the negotiated data classification version (0: none). It
// returns errShort when b ends before the token does.
func decodeTokenBody(tok *Token, b []byte, ver uint32, colBuf []Column, dcVersion uint8) (int, error) {
	var n int
	var err error
	switch tok.Type {
	case TokenDone, TokenDoneProc, TokenDoneInProc:
		tok.Done, n, err = decodeDone(b, ver)
	case TokenReturnStatus:
		if len(b) < 4 {
			return 0, errShort
		}
		tok.ReturnStatus, n = int32(binary.LittleEndian.Uint32(b)), 4
	case TokenEnvChange:
		tok.Env, n, err = decodeEnvChange(b)
	case TokenError, TokenInfo:
		tok.Err, n, err = decodeServerError(b, ver)
	case TokenLoginAck:
		tok.LoginAck, n, err = decodeLoginAck(b)
	case TokenColMetadata:
		tok.Columns, n, err = decodeColMetadata(b, ver, colBuf)
	case TokenOrder:
		tok.Order, n, err = decodeOrder(b)
	case TokenFeatureExtAck:
		tok.FeatureExtAck, n, err = decodeFeatureExtAck(b)
	case TokenSessionState:
		tok.SessionState, n, err = decodeSessionState(b)
	case TokenOffset:
		if len(b) < 4 {
			return 0, errShort
		}
		tok.Raw, n = b[:4], 4
	case TokenTabName, TokenColInfo, TokenSSPI:
		if len(b) < 2 {
			return 0, errShort
		}
		l := int(binary.LittleEndian.Uint16(b))
		if len(b) < 2+l {
			return 0, errShort
		}
		tok.Raw, n = b[2:2+l], 2+l
	case TokenFedAuthInfo:
		if len(b) < 4 {
			return 0, errShort
		}
		l := binary.LittleEndian.Uint32(b)
		if l > maxTokenLen {
			return 0, formatErr("FEDAUTHINFO", "Length", "%d exceeds %d", l, maxTokenLen)
		}
		if uint64(len(b)-4) < uint64(l) {
			return 0, errShort
		}
		tok.Raw, n = b[4:4+int(l)], 4+int(l)
	case TokenAltMetadata, TokenAltRow:
		return 0, formatErr(tok.Type.String(), "", "COMPUTE BY results are not supported")
	case TokenDataClassification:
		n, err = decodeDataClassification(b, dcVersion)
		if err == nil {
			tok.Raw = b[:n]
		}
	default:
		return 0, formatErr("token stream", "TokenType", "unknown token 0x%02X", uint8(tok.Type))
	}
	return n, err
}

// Append appends the token for tdsVersion. cols is the current result's
// metadata, needed by ROW and NBCROW.
func (t *Token) Append(dst []byte, cols []Column, tdsVersion uint32) ([]byte, error) {
	switch t.Type {
	case TokenDone, TokenDoneProc, TokenDoneInProc:
		return AppendDone(dst, t.Type, t.Done, tdsVersion), nil
	case TokenReturnStatus:
		return AppendReturnStatus(dst, t.ReturnStatus), nil
	case TokenEnvChange:
		return AppendEnvChange(dst, t.Env), nil
	case TokenError, TokenInfo:
		return AppendMessage(dst, t.Type, t.Err, tdsVersion), nil
	case TokenLoginAck:
		return AppendLoginAck(dst, t.LoginAck), nil
	case TokenColMetadata:
		return appendColMetadata(dst, t.Columns, tdsVersion), nil
	case TokenRow:
		return AppendRow(dst, cols, t.Row)
	case TokenNBCRow:
		return AppendNBCRow(dst, cols, t.Row)
	case TokenReturnValue:
		return appendReturnValue(dst, t.ReturnValue, tdsVersion)
	case TokenOrder:
		return AppendOrder(dst, t.Order), nil
	case TokenFeatureExtAck:
		return AppendFeatureExtAck(dst, t.FeatureExtAck), nil
	case TokenSessionState:
		return AppendSessionState(dst, t.SessionState), nil
	case TokenOffset, TokenDataClassification:
		return append(append(dst, byte(t.Type)), t.Raw...), nil
	case TokenTabName, TokenColInfo, TokenSSPI:
		dst = append(dst, byte(t.Type))
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(t.Raw)))
		return append(dst, t.Raw...), nil
	case TokenFedAuthInfo:
		dst = append(dst, byte(t.Type))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(t.Raw)))
		return append(dst, t.Raw...), nil
	}
	return dst, fmt.Errorf("tds: cannot encode token %s", t.Type)
}

// AppendTokens appends toks in order, tracking COLMETADATA for the rows.
func AppendTokens(dst []byte, toks []Token, tdsVersion uint32) ([]byte, error) {
	var cols []Column
	for i := range toks {
		var err error
		if dst, err = toks[i].Append(dst, cols, tdsVersion); err != nil {
			return dst, fmt.Errorf("token %d: %w", i, err)
		}
		if toks[i].Type == TokenColMetadata && toks[i].Columns != nil {
			cols = toks[i].Columns
		}
	}
	return dst, nil
}

// isShort reports whether err means "more input needed".
func isShort(err error) bool { return errors.Is(err, errShort) }
